"""Issue 12: ``pip install .`` adds exactly one top-level package of ours, ``focalpoint_upload``.

The folders stay at the top of the repo; pyproject's ``package-dir`` maps each to ``focalpoint_upload.<name>``.
The wheel is what ``pip install .`` unpacks into site-packages, so its top-level names are what an install adds.
mypy cannot see the editable install's import hook, so it reads the sources through ``.mypy-tree`` (links named
as the packages are installed): that tree must follow the mapping, or mypy would silently check less.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _mapping() -> dict[str, str]:
    mapping: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
    return mapping


@pytest.mark.slow  # a wheel build (pip, build isolation): ~10-20 s, once per tox run (py311)
def test_the_wheel_installs_one_top_level_package_with_the_page_and_the_type_marker(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources, and parallel runs share those.
    src = tmp_path / "src"
    for name in ["focalpoint_upload", *_mapping().values()]:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path),
                    str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("focalpoint_upload-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"focalpoint_upload"}
    for sub in _mapping():
        assert f"{sub.replace('.', '/')}/__init__.py" in names, sub
    assert "focalpoint_upload/static/index.html" in names  # package data follows the mapping
    assert "focalpoint_upload/py.typed" in names
    assert "focalpoint_upload/gemini/translate.py" in names
    assert not [n for n in names if n.startswith("focalpoint_upload/gemini/emulator/")]  # a development tool
    dist_info = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(dist_info).decode().split() == ["focalpoint_upload"]


def test_every_folder_with_a_package_is_mapped_under_the_project() -> None:
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"focalpoint_upload", "tests", "bench"}
    assert {sub.removeprefix("focalpoint_upload.") for sub in _mapping()} == folders
    assert set(_mapping().values()) == folders


def test_mypy_sees_every_mapped_package_through_the_link_tree() -> None:
    tree = ROOT / PYPROJECT["tool"]["mypy"]["mypy_path"] / "focalpoint_upload"
    checked = set(PYPROJECT["tool"]["mypy"]["packages"])
    for sub, folder in _mapping().items():
        link = tree / sub.removeprefix("focalpoint_upload.")
        assert link.resolve() == (ROOT / folder).resolve(), f"{link} must point at {folder}/"
        if sub != "focalpoint_upload.static":  # the page: no Python to check
            assert sub in checked, f"mypy's packages lack {sub}"
