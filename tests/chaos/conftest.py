"""The chaos suite's marker (``-m chaos`` selects it, ``-m 'not chaos'`` leaves it out)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: the chaos suite (real processes killed at random; see tests/chaos)")
