"""The attack replays use the root fixtures (make_service, service) and the e2e pipeline (emulator, workers)."""

from tests.e2e.conftest import emulator, make_pipeline

__all__ = ["emulator", "make_pipeline"]
