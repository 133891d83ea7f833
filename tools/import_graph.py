"""The imports between UVatar's subpackages, and any cycle among them.

    python tools/import_graph.py [--inline]

A subpackage is ``uvatar/<name>/`` or a top-level module ``uvatar/<name>.py``. Every ``import`` counts,
at module level or inside a function (an import placed in a function hides a dependency, it does not
remove it). ``--inline`` also lists the imports placed inside functions. Exit status 1 if the package
graph has a cycle (printed).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "uvatar"


def unit_of(module: str) -> str | None:
    """``uvatar.x.y`` -> ``x`` (the subpackage or top-level module); None outside uvatar."""
    parts = module.split(".")
    if parts[0] != "uvatar" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, bool, int]]:
    """``(imported module, inside a function, line)`` for every uvatar import of one file."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module_name(path)
    found = []

    def visit(node, inside: bool):
        for child in ast.iter_child_nodes(node):
            nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against this module's package
                    base = here.split(".")[: -child.level if path.name != "__init__.py" else len(here.split(".")) - child.level + 1]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                found.append((module, inside, child.lineno))
            visit(child, nested)

    visit(tree, False)
    return [(m, inside, line) for m, inside, line in found if m.startswith("uvatar")]


def package_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str, int]]]:
    """Edges ``unit -> units it imports`` and the list of function-level imports (file, module, line)."""
    edges: dict[str, set[str]] = defaultdict(set)
    inline = []
    for path in sorted(ROOT.rglob("*.py")):
        source = unit_of(_module_name(path)) or "__init__"
        for module, inside, line in imports_of(path):
            target = unit_of(module)
            if target and target != source and source != "__init__":
                edges[source].add(target)
            if inside:
                inline.append((str(path.relative_to(ROOT.parent)), module, "function", line))
    return edges, inline


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component with more than one unit (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            strong(v)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inline", action="store_true", help="also list the imports placed inside functions")
    args = parser.parse_args()
    edges, inline = package_graph()
    for source in sorted(edges):
        print(f"{source:12s} -> {', '.join(sorted(edges[source]))}")
    print(f"\n{len(inline)} uvatar imports inside functions")
    if args.inline:
        for path, module, _, line in inline:
            print(f"  {path}:{line}  {module}")
    cycles = find_cycles(edges)
    for cycle in cycles:
        print("cycle:", " <-> ".join(cycle))
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
