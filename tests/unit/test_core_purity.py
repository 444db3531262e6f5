"""The shared core (encoding, index, Merkle log, envelopes) and the matcher's pure modules import neither
grpc nor sqlite3: they can be reasoned about, tested and reimplemented without I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_SERVER_MODULES = ("matching.py", "disclosure.py", "quotas.py", "roles.py", "publish_rules.py")
CORE = sorted(p for p in (ROOT / "crossforce").glob("*.py"))
PURE = CORE + [ROOT / "server" / name for name in PURE_SERVER_MODULES if (ROOT / "server" / name).exists()]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_io_framework(path: Path) -> None:
    assert not _imports(path) & {"grpc", "sqlite3"}
