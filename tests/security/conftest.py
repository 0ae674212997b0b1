"""The attack replays use the root fixtures (make_service, service, emulator) and the e2e pipeline."""

from tests.e2e.conftest import make_pipeline

__all__ = ["make_pipeline"]
