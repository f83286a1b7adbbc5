"""Architecture rules of the engine's services and the routes, as tests.

* An engine service names its dependencies: no module of `wharfie.engine` takes the
  `Engine` (a parameter or attribute annotated `Engine`) except the wiring place
  (engine/core.py) and the modules still listed in NOT_YET (issue 14's remaining work).
* The resource routes depend on one narrow backend each (api/backends_*.py): they import
  neither the engine's wiring, the monitor, nor the disk layout, and never reach
  `engine.ctr`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "wharfie"
# services that still take the Engine; remove a module from here when it stops
NOT_YET: set[str] = set()
ROUTES = (
    "routes_networks.py",
    "routes_volumes.py",
    "routes_images.py",
    "routes_build.py",
    "routes_distribution.py",
)


def _annotations(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        annotated = isinstance(node, ast.arg) and node.annotation is not None
        if annotated or isinstance(node, ast.AnnAssign):
            out.append(ast.unparse(node.annotation))  # type: ignore[union-attr,arg-type]
    return out


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_engine_service_takes_the_engine() -> None:
    engine = SRC / "engine"
    offenders = []
    for path in sorted(engine.rglob("*.py")):
        rel = path.relative_to(engine).as_posix()
        if rel in ("core.py", *NOT_YET):
            continue
        tree = ast.parse(path.read_text(), str(path))
        if any(a in ("Engine", "'Engine'") for a in _annotations(tree)):
            offenders.append(rel)
        if "wharfie.engine.core" in _imports(tree):
            offenders.append(rel + " (imports engine.core)")
    assert offenders == []
    for name in NOT_YET:  # the list only shrinks: a converted module leaves it
        assert "Engine" in (engine / name).read_text(), f"{name} no longer takes the Engine"


def test_resource_routes_depend_on_narrow_backends() -> None:
    offenders = []
    for name in ROUTES:
        path = SRC / "api" / name
        tree = ast.parse(path.read_text(), str(path))
        for module in _imports(tree):
            if module.startswith(
                ("wharfie.monitor", "wharfie.engine.core", "wharfie.engine.paths")
            ):
                offenders.append(f"{name} imports {module}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("ctr", "container_dir", "monitor"):
                offenders.append(f"{name} reaches .{node.attr}")
        if "Engine" in _annotations(tree):
            offenders.append(f"{name} takes the Engine")
    assert offenders == []
