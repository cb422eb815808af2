"""The shape of the house: no import cycles between graft's modules, and ``graft --help`` loads
none of the heavy libraries (each costs from a tenth of a second to seconds at start-up)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import graft

SRC = Path(graft.__file__).parent
HEAVY = ("torch", "torchvision", "lightning", "onnx", "onnxruntime", "sklearn", "scipy",
         "pandas", "numpy", "cv2", "matplotlib", "PIL", "safetensors", "requests")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def imported(path: Path, name: str, modules: set[str]) -> set[str]:
    """graft modules ``path`` imports when it runs, at module level or inside functions (a lazy
    import is still a dependency); ``if TYPE_CHECKING:`` blocks never run and are skipped, and
    so are a module's own parent packages (always imported before it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parts, *([child.module] if child.module else [])])
                for a in child.names:
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in modules else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {m for m in found if m in modules and m != name and m not in parents}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_graft_has_no_import_cycles() -> None:
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    modules = set(paths)
    graph = {name: imported(path, name, modules) for name, path in paths.items()}
    assert "graft.tasks.base" in graph["graft.tasks.classification.task"]  # the walk sees imports
    assert cycles(graph) == []


def test_help_imports_no_heavy_library() -> None:
    code = ("import contextlib, io, json, sys\n"
            "from graft.cli import main\n"
            "for argv in (['--help'], ['classification', '--help'], ['bpnet', '--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        assert main(argv) == 0, argv\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**__import__("os").environ,
                                          "PYTHONPATH": str(SRC.parent)})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_each_task_lists_its_spec_kinds_without_importing_them() -> None:
    from graft import tasks

    for name in tasks.available():
        task = tasks.get(name)
        assert task.spec_kinds() == tuple(task.spec_models()), name
