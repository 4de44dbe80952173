"""The import graph of the parts, read from the source (every import, inside functions and TYPE_CHECKING too).

The shape the code must keep (DEVELOPING.md, "Where things live"): one `stagewise` namespace; `core` imports no
part; `cluster` (where it runs) imports only `core`; a stage (train, serve, evaluate, analysis) imports no other
stage's config and never the study layer; evaluate uses serve's client and nothing else of serve; analysis reads
the store's schema and nothing else of evaluate; no cycle between parts.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO

PARTS = ("cluster", "train", "serve", "evaluate", "analysis")
STAGES = ("train", "serve", "evaluate", "analysis")
STUDY_LAYER = ("stagewise.config", "stagewise.run", "stagewise.plan", "stagewise.cli", "stagewise.commands")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts if parts[0] == "stagewise" else ["stagewise", *parts])


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return found


def _part(module: str) -> str | None:
    names = module.split(".")
    if names[0] != "stagewise":
        return None
    if len(names) > 1 and names[1] in (*PARTS, "core"):
        return names[1]
    return "study"


def _source_modules() -> dict[str, set[str]]:
    files = [p for folder in ("stagewise", *PARTS) for p in (REPO / folder).rglob("*.py")]
    return {_module_name(p): _imports(p) for p in files}


def test_nothing_imports_the_parts_as_top_level_packages():
    files = [p for folder in ("stagewise", *PARTS, "tests", "bench", "data") for p in (REPO / folder).rglob("*.py")]
    bare = sorted(f"{p.relative_to(REPO)}: {m}" for p in files for m in _imports(p) if m.split(".")[0] in PARTS)
    assert not bare, "import these as stagewise.<part>:\n" + "\n".join(bare)


def test_each_part_imports_only_what_it_stands_on():
    problems = []
    for module, imported in _source_modules().items():
        me = _part(module)
        for target in imported:
            other = _part(target)
            if other is None or other == me:
                continue
            if me == "core" or (me == "cluster" and other != "core"):
                problems.append(f"{module} -> {target} ({me} stands on core only)")
            elif me in STAGES and other == "study" and not target.startswith("stagewise.core"):
                problems.append(f"{module} -> {target} (a stage never imports the study layer)")
            elif me in STAGES and other in STAGES and target.split(".")[2:3] == ["config"]:
                problems.append(f"{module} -> {target} (a stage imports no other stage's config)")
            elif me == "evaluate" and other == "serve" and not target.startswith("stagewise.serve.client"):
                problems.append(f"{module} -> {target} (evaluate uses serve's client only)")
            elif me == "analysis" and other == "evaluate" and not target.startswith("stagewise.evaluate.schema"):
                problems.append(f"{module} -> {target} (analysis reads the store's schema only)")
            elif me in STAGES and other in STAGES and (me, other) not in {("evaluate", "serve"), ("analysis", "evaluate")}:
                problems.append(f"{module} -> {target} ({me} does not use {other})")
    assert not problems, "\n".join(sorted(problems))


def test_no_cycle_between_parts():
    edges: dict[str, set[str]] = defaultdict(set)
    for module, imported in _source_modules().items():
        for target in imported:
            a, b = _part(module), _part(target)
            if b is not None and a != b:
                edges[a].add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges[start])

    cycles = sorted(a for a in list(edges) if reaches(a, a, {a}))
    assert not cycles, f"parts on an import cycle: {cycles} (edges: {dict(edges)})"


def test_the_study_layer_is_the_only_one_that_knows_the_study():
    users = sorted(m for m, imported in _source_modules().items()
                   if "stagewise.config" in imported and _part(m) != "study")
    assert not users, f"outside the study layer: {users}"
