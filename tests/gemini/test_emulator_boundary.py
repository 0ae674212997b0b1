"""Issue 12: the Gemini emulator is a development and test tool, outside the production import graph.

No production module imports it, lazily or not (a static look at every import statement); importing every
production module loads none of it (a fresh interpreter); and an installation without it (the wheel leaves it
out: tests/test_packaging.py) refuses ``serve --emulate-gemini`` and ``emulator`` with the fix, exit status 2.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EMULATOR = "focalpoint_upload.gemini.emulator"


def production_modules() -> dict[str, Path]:
    """Every module of the installed package but the emulator's, by dotted name."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    roots = {"focalpoint_upload": ROOT / "focalpoint_upload", **{k: ROOT / v for k, v in mapping.items()}}
    modules: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in folder.rglob("*.py"):
            parts = [*package.split("."), *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name != EMULATOR and not name.startswith(EMULATOR + "."):
                modules[name] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every module an import statement in ``path`` may load (``from a import b``: both ``a`` and ``a.b``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_production_module_imports_the_emulator() -> None:
    modules = production_modules()
    assert "focalpoint_upload.cli" in modules and "focalpoint_upload.gemini.uploader" in modules
    offenders = {name for name, path in modules.items()
                 if any(n == EMULATOR or n.startswith(EMULATOR + ".") for n in imported_names(name, path))}
    assert offenders == set()


def test_importing_every_production_module_loads_no_emulator() -> None:
    names = sorted(production_modules())
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({EMULATOR!r}))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def _without_emulator(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The console script in an interpreter where the emulator cannot be imported, as in a wheel install."""
    code = (f"import sys\nsys.modules[{EMULATOR!r}] = None\n"
            "from focalpoint_upload.cli import main\n"
            f"sys.exit(main({args!r}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOCALPOINT_", "GEMINI_", "REDIS_URL"))}
    return subprocess.run([sys.executable, "-c", code], env={**env, "FOCALPOINT_DATA_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)


def test_without_the_emulator_emulate_gemini_is_refused_with_the_fix(tmp_path: Path) -> None:
    r = _without_emulator(["serve", "--port", "0", "--emulate-gemini"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "the Gemini emulator" in r.stderr and "./dev serve" in r.stderr and "GEMINI_API_KEY" in r.stderr
    assert not (tmp_path / "redis").exists()  # refused before anything started
    r = _without_emulator(["emulator", "--port", "0"], tmp_path)
    assert r.returncode == 2 and "development tool" in r.stderr
