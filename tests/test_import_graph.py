"""The subpackages of uvatar import each other in one direction only (every import counts, also those
placed inside functions: a hidden dependency is still a dependency)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_graph.py"


def _tool():
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_between_subpackages():
    tool = _tool()
    edges, _ = tool.package_graph()
    assert tool.find_cycles(edges) == [], {k: sorted(v) for k, v in edges.items()}


def test_the_cycle_finder_finds_a_cycle():
    tool = _tool()
    assert tool.find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert tool.find_cycles({"a": {"b"}, "b": {"c"}}) == []


def test_stages_do_not_reach_back():
    """The pipeline's order: the decoder never imports training, evaluation or the orchestrator."""
    edges, _ = _tool().package_graph()
    for later in ("train", "eval", "reconstruct", "app", "cli"):
        for stage in ("model", "dualuv", "track", "detect", "encode", "render", "body", "avatar"):
            assert later not in edges.get(stage, set()), f"{stage} imports {later}"


def test_test_file_names_are_unique():
    """pytest's default import mode imports test files by base name: two test_x.py in different folders
    stop the whole run at collection."""
    tests = Path(__file__).resolve().parent
    names: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.parent.relative_to(tests)))
    assert {name: dirs for name, dirs in names.items() if len(dirs) > 1} == {}
