"""Rules of the architecture that code review alone would not keep."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ML_LIBRARIES = {"torch", "tensorflow", "theano", "pytensor", "caffe", "cv2", "keras", "jax"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _package_files(*packages: str) -> list[Path]:
    files = []
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            if "scripts" in path.parts or "samples" in path.parts:
                continue
            files.append(path)
    return files


def test_probes_never_import_textual_or_rich() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_modules(p) & {"textual", "rich"})
        for p in _package_files("probes")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_mltui_code_never_imports_an_ml_library() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imported_modules(p) & ML_LIBRARIES)
        for p in _package_files("probes", "tui", "content")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_module_loads_no_ml_library() -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import probes, tui, content\n"
        "for pkg in (probes, tui, content):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}
    assert loaded & ML_LIBRARIES == set()
    # Ray is loaded only by the fleet's driver process (probes.fleet.ray_driver, inside main()).
    assert "ray" not in loaded


def test_standalone_scripts_do_not_import_mltui() -> None:
    scripts = list((ROOT / "probes" / "scripts").glob("*.py"))
    scripts += list((ROOT / "content" / "samples").rglob("*.py"))
    assert scripts, "no standalone scripts found"
    for path in scripts:
        assert _imported_modules(path) & {"probes", "tui", "content"} == set(), path


def test_standalone_scripts_parse_as_python_3_8() -> None:
    scripts = list((ROOT / "probes" / "scripts").glob("*.py"))
    scripts += list((ROOT / "content" / "samples").rglob("*.py"))
    for path in scripts:
        # feature_version rejects syntax newer than 3.8 (match, `except*`, parenthesised withs...).
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 8))


def _content_imports(path: Path) -> set[str]:
    """The content.* modules a file imports, anywhere in it (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith("content."))
    return found


def test_content_modules_import_no_circle() -> None:
    """The content package's modules form no import circle (the chooser and the pages once did),
    counting imports made inside functions as well."""
    graph = {f"content.{p.stem}": _content_imports(p) for p in (ROOT / "content").glob("*.py")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        assert module not in visiting, "import circle: " + " -> ".join([*visiting, module])
        if module in done:
            return
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert "content.knowledge" not in graph["content.chooser"]
