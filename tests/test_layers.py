"""Layers import downward only: experiments -> calibration -> analysis -> sim (the developers' guide)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("sim", "analysis", "calibration", "experiments")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", ORDER[:-1])
def test_no_upward_import(layer):
    above = set(ORDER[ORDER.index(layer) + 1:])
    bad = {str(p.relative_to(ROOT)): sorted(_imports(p) & above) for p in (ROOT / layer).rglob("*.py")}
    assert {k: v for k, v in bad.items() if v} == {}
