"""DESIGN §2: the module that knows Jupyter messages must not know Docker calls, and the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dockerkernel"
JUPYTER = ("ipykernel", "zmq", "jupyter_client")
DOCKER = ("docker", "requests")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def files(*parts: str) -> list[Path]:
    found = []
    for part in parts:
        target = PACKAGE / part
        found += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return found


@pytest.mark.parametrize("path", files("sandbox", "images", "incontainer", "wire.py"), ids=str)
def test_the_docker_side_never_imports_jupyter(path):
    assert not imported_roots(path) & set(JUPYTER)


@pytest.mark.parametrize(
    "path", files("kernel", "magics.py", "cells.py", "sources.py", "languages.py", "protocol.py", "wire.py"), ids=str
)
def test_the_jupyter_side_and_the_contract_never_import_docker(path):
    assert not imported_roots(path) & set(DOCKER)
