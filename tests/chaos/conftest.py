"""The chaos suite: ``-m chaos`` selects it, ``-m "not chaos"`` leaves it out (marker in pyproject)."""
