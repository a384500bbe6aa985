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


# ------------------------------------------------------------------ the import graph of the tree

LAYERS = ("probes", "content", "tui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _tree_modules() -> dict[str, Path]:
    """mltui's own modules by dotted name (the standalone scripts and samples are not imported)."""
    return {_module_name(path): path for path in _package_files(*LAYERS)}


def _module_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tree's modules that `name` imports, anywhere in it (inside functions and
    TYPE_CHECKING blocks too): `from a.b import c` is the module a.b.c when there is one, else
    a.b; relative imports are resolved."""

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(m for m in (known(alias.name) for alias in node.names) if m)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            for alias in node.names:
                target = known(f"{base}.{alias.name}") or known(base)
                if target:
                    found.add(target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each of the tree's modules and the tree's modules it imports."""
    modules = _tree_modules()
    return {name: _module_imports(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def long_circle(graph: dict[str, set[str]], members: list[str]) -> list[str] | None:
    """A circle of more than two modules among `members` (one strongly connected component),
    or None when its only circles are pairs importing each other."""
    inside = set(members)
    for start in members:
        paths = [[start]]
        while paths:
            path = paths.pop()
            for target in sorted(graph[path[-1]] & inside):
                if target == start and len(path) > 2:
                    return [*path, start]
                if target not in path and target > start:
                    paths.append([*path, target])
    return None


def circles_longer_than_two(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle of more than two modules for each component that has one."""
    found = []
    for members in strongly_connected(graph):
        if len(members) > 2:
            circle = long_circle(graph, members)
            if circle is not None:
                found.append(circle)
    return found


def test_the_circle_finder_finds_circles_of_three_and_more_and_allows_pairs() -> None:
    pairs = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}}
    assert circles_longer_than_two(pairs) == []
    three = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles_longer_than_two(three) == [["a", "b", "c", "a"]]
    six = {"app": {"panes"}, "panes": {"fleet_pane"}, "fleet_pane": {"cli"}}
    six |= {"cli": {"dashboard"}, "dashboard": {"app"}, "other": set()}
    (circle,) = circles_longer_than_two(six)
    assert len(circle) == 6 and circle[0] == circle[-1]
    assert circles_longer_than_two({"a": {"b"}, "b": {"a"}}) == []


def test_the_import_graph_sees_imports_inside_functions_and_relative_ones() -> None:
    graph = import_graph()
    # tui.panes imports each pane's module inside the function that builds it.
    assert "tui.widgets.fleet_pane" in graph["tui.panes"]
    assert "probes.model" in graph["probes.check"]


def test_the_tree_has_no_import_circle_of_more_than_two_modules() -> None:
    """Counting imports made inside functions: app -> panes -> fleet_pane -> cli -> dashboard ->
    app was one (issue 21). Two modules importing each other are allowed."""
    circles = circles_longer_than_two(import_graph())
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_no_import_goes_up_the_layers() -> None:
    """probes -> content -> tui: probes imports neither content nor tui, content not tui."""
    upward = []
    for module, targets in import_graph().items():
        layer = LAYERS.index(module.split(".")[0])
        upward += [f"{module} -> {t}" for t in targets if LAYERS.index(t.split(".")[0]) > layer]
    assert upward == []


# ------------------------------------------------------------------------ tests wait for conditions

#: The calls that wait a fixed time: time.sleep, asyncio.sleep, Pilot.pause.
TIMED_WAITS = frozenset({"sleep", "pause"})


def fixed_waits(source: str) -> list[int]:
    """Lines of fixed timed waits (a literal number of seconds) that are neither a poll inside a
    `while` loop (a wait for a condition) nor marked `# waits-for: why`."""
    lines = source.splitlines()
    found: list[int] = []

    def visit(node: ast.AST, polling: bool) -> None:
        if isinstance(node, ast.While):
            polling = True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            polling = False
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            seconds = [*node.args, *(k.value for k in node.keywords if k.arg == "delay")][:1]
            if (
                name in TIMED_WAITS
                and seconds
                and isinstance(seconds[0], ast.Constant)
                and isinstance(seconds[0].value, int | float)
                and seconds[0].value > 0
                and not polling
                and not any(
                    "waits-for" in line for line in lines[node.lineno - 1 : node.end_lineno]
                )
            ):
                found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, polling)

    visit(ast.parse(source), False)
    return found


def test_the_fixed_wait_finder_tells_a_pause_from_a_poll() -> None:
    source = (
        "import time\n"
        "async def t(pilot):\n"
        "    await pilot.pause(0.3)\n"  # 3: a fixed wait (# waits-for: none; a vector to catch)
        "    time.sleep(1.1)\n"  # 4: a fixed wait
        "    await asyncio.sleep(delay=2)\n"  # 5: a fixed wait
        "    while not ready():\n"
        "        time.sleep(0.2)\n"  # a poll
        "    await pilot.pause(0.2)  # waits-for: a dialog that must not come\n"
        "    await pilot.pause()\n"  # the pending messages, not a time
        "    code = 'import time; time.sleep(300)'\n"  # a child's program, as text
    )
    assert fixed_waits(source) == [3, 4, 5]


def test_tests_wait_for_conditions_not_fixed_times() -> None:
    """A test waits for what it checks; a pause that is the point carries `# waits-for: why`."""
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "tests").rglob("*.py"))
        if (lines := fixed_waits(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


# ------------------------------------------------------------- Textual's private attributes

#: The documented uses of a Textual private attribute, each where Textual has no public API and
#: each with a guard test that fails when Textual changes under it:
#: - Static._layout_updates, bumped by the Hardware pane so a pending layout measures new content
#:   (tui/widgets/hardware_pane.py);
#: - App._driver, read by the SIGCONT handler to leave application mode after a SIGSTOP, so the
#:   screen is drawn again after `fg` (tui/app.py; guarded by tests/test_session_end.py's
#:   test_the_dashboard_is_drawn_whole_after_fg). Textual has no public accessor for its driver.
TEXTUAL_PRIVATE_ALLOWED = frozenset({"_layout_updates", "_driver"})


def textual_private_names() -> set[str]:
    """The private attributes and methods of Textual's App, Screen, Widget and their bases."""
    import textual

    folder = Path(textual.__file__).parent
    names: set[str] = set()
    for module in ("app.py", "screen.py", "widget.py", "dom.py", "message_pump.py"):
        for node in ast.walk(ast.parse((folder / module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "self":
                    names.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_uses(source: str, private: set[str]) -> list[tuple[int, str]]:
    """(line, name) of each use of a name in `private` as an attribute (not of an imported
    module: os._exit is the os module's) or as a method defined in a class."""
    tree = ast.parse(source)
    modules = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in modules):
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ClassDef):
            methods = (
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            )
            found += [(m.lineno, m.name) for m in methods if m.name in private]
    return found


def test_the_private_use_finder_sees_reads_writes_and_overrides() -> None:
    private = {"_filters", "_thread_id", "_exit"}
    source = (
        "import os\n"
        "class A:\n"
        "    def _exit(self): ...\n"  # 3: overrides a private method
        "    def f(self):\n"
        "        self._filters.append(1)\n"  # 5
        "        x = app._thread_id\n"  # 6
        "        os._exit(1)\n"  # the os module's, not Textual's
        "def _exit(): ...\n"  # a module's own function
    )
    assert sorted(private_uses(source, private)) == [
        (3, "_exit"),
        (5, "_filters"),
        (6, "_thread_id"),
    ]


def test_the_dashboard_uses_no_private_textual_attribute() -> None:
    """Public API where Textual has one (App.get_line_filters, not App._filters; a message, not
    App._thread_id); the one documented workaround is allowed."""
    private = textual_private_names() - TEXTUAL_PRIVATE_ALLOWED
    assert {"_filters", "_thread_id"} <= private
    uses = {
        str(path.relative_to(ROOT)): found
        for path in _package_files("tui")
        if "cli" not in path.relative_to(ROOT).parts
        if (found := private_uses(path.read_text(encoding="utf-8"), private))
    }
    assert uses == {}
