"""The catalog (probes/catalog.py) and the standalone probe script each name the libraries once;
these tests hold the two lists to each other."""

from __future__ import annotations

import ast
import importlib.util
from types import ModuleType

from probes.catalog import LIBRARIES, PROBE_SCRIPTS_DIR

SCRIPT = PROBE_SCRIPTS_DIR / "probe_library.py"


def _load_script() -> ModuleType:
    """The probe script as a module (importing it runs nothing: main() is behind __name__)."""
    spec = importlib.util.spec_from_file_location("mltui_probe_library_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_script_and_catalog_name_the_same_libraries() -> None:
    script = _load_script().LIBRARIES
    assert sorted(script) == sorted(s.id for s in LIBRARIES)
    for spec in LIBRARIES:
        display, import_name, distributions, probe = script[spec.id]
        assert (display, import_name, distributions) == (
            spec.display_name,
            spec.import_name,
            spec.distributions,
        ), spec.id
        assert callable(probe) and probe.__name__ == f"probe_{spec.id}"


def test_probe_script_names_each_library_once() -> None:
    """Ids are string literals only in the @library(...) registrations, one each."""
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    registered: list[str] = []
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "library":
            first = node.args[0]
            assert isinstance(first, ast.Constant) and isinstance(first.value, str)
            registered.append(first.value)
            inside.update(id(n) for n in ast.walk(node))
    assert sorted(registered) == sorted(s.id for s in LIBRARIES)
    elsewhere = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in inside and node.value in registered
    ]
    assert elsewhere == []


def test_catalog_names_each_library_once() -> None:
    ids = [s.id for s in LIBRARIES]
    assert len(ids) == len(set(ids))
    assert len({s.display_name for s in LIBRARIES}) == len(ids)
