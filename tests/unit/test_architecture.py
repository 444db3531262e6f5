"""The layering, enforced: every rule here globs folders, so a new module is covered the day it is added.

The four source roots each hold a slice of the ``crossforce`` namespace (docs/architecture.md):

- ``core/``: what a force and the matcher share. The spec and format packages (``encoding``, ``index``,
  ``auditlog``) and ``crypto`` are pure: no gRPC, SQLite, protobuf or file I/O, so another implementation
  can be checked against them byte for byte. Purity is followed through imports: every crossforce module
  a pure package reaches, directly or not, must do no I/O either. Keys and certificates on disk live in
  ``crossforce.keystore``. Only ``crossforce.v2`` (generated) and ``crossforce.wire`` (the one protobuf
  conversion) touch the wire format.
- ``server/``: the matcher. Its ``policy`` package holds the pure rules the use cases call.
- ``client/``: the SDK (``crossforce.client``: no click, rich or server code) and the CLI
  (``crossforce.cli``: a leaf that nothing imports).
- ``testkit/``: the simulator, a local deployment and the demo, used by tests, bench and load tests.

Modules outside the four roots (bench, load tests, scripts and the helper modules of the test suite)
follow the same length rule: over ``MAX_LINES`` lines, the docstring says why.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("core", "server", "client", "testkit")
MAX_LINES = 400

WIRE = ("crossforce.v2", "crossforce.wire")
PURE = (
    "crossforce.encoding",
    "crossforce.index",
    "crossforce.scoring",
    "crossforce.auditlog",
    "crossforce.crypto",
    "crossforce.server.policy",
)
IO_FRAMEWORKS = ("grpc", "sqlite3", "google.protobuf", "psycopg", *WIRE)
FILE_IO = ("os", "pathlib", "shutil", "tempfile", "io", "fcntl")
UI = ("click", "rich")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    imports: frozenset[str]
    """Every import, including those only for the type checker (the layering rules cover both)."""
    runtime_imports: frozenset[str]
    """The imports that run (not under ``if TYPE_CHECKING:``): what the purity walk follows."""
    calls_open: bool
    lines: int
    docstring: str

    def within(self, *packages: str) -> bool:
        return any(_under(self.name, p) for p in packages)

    def importing(self, *packages: str) -> list[str]:
        return sorted(i for i in self.imports if any(_under(i, p) for p in packages))


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _imported_names(nodes: list[ast.AST]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``: imported for the type checker, never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _load(part: str, path: Path) -> Module:
    rel = path.relative_to(ROOT / part).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = list(ast.walk(tree))
    skipped = _type_checking_only(tree)
    calls_open = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open" for n in nodes
    )
    text = path.read_text(encoding="utf-8")
    return Module(
        ".".join(parts),
        path,
        frozenset(_imported_names(nodes)),
        frozenset(_imported_names([n for n in nodes if id(n) not in skipped])),
        calls_open,
        text.count("\n"),
        ast.get_docstring(tree) or "",
    )


MODULES = [
    _load(part, path)
    for part in PARTS
    for path in sorted((ROOT / part / "crossforce").rglob("*.py"))
    if path.relative_to(ROOT / part).parts[1] != "v2"  # generated from proto/, checked by its own test
]
CORE = [m for m in MODULES if m.path.is_relative_to(ROOT / "core")]
OUTSIDE = sorted(p for d in ("bench", "loadtests", "scripts") for p in (ROOT / d).rglob("*.py"))
TEST_HELPERS = sorted(
    p
    for p in (ROOT / "tests").rglob("*.py")
    if not p.name.startswith("test_") and p.name not in ("conftest.py", "__init__.py")
)
BY_NAME = {m.name: m for m in MODULES}


def _module_of(imported: str) -> list[Module]:
    """The crossforce modules an import runs: the longest known prefix (``from crossforce.domain import
    ROLES`` names ``crossforce.domain.ROLES``) and every package ``__init__`` above it."""
    parts = imported.split(".")
    found = [BY_NAME[".".join(parts[:n])] for n in range(2, len(parts) + 1) if ".".join(parts[:n]) in BY_NAME]
    return found


def _reached(m: Module) -> list[Module]:
    """Every crossforce module importing ``m`` runs, directly or through other modules (``m`` included)."""
    seen = {m.name: m}
    todo = [m]
    while todo:
        for imported in sorted(i for i in todo.pop().runtime_imports if _under(i, "crossforce")):
            for dep in _module_of(imported):
                if dep.name not in seen:
                    seen[dep.name] = dep
                    todo.append(dep)
    return sorted(seen.values(), key=_ids)


def _ids(m: Module) -> str:
    return m.name


def test_every_part_has_modules() -> None:
    for part in PARTS:
        assert any(m.path.is_relative_to(ROOT / part) for m in MODULES), part


@pytest.mark.parametrize("m", MODULES, ids=_ids)
def test_module_sits_at_the_path_its_import_names(m: Module) -> None:
    spec = importlib.util.find_spec(m.name)
    assert spec is not None
    found = spec.origin if spec.origin else next(iter(spec.submodule_search_locations or []), None)
    assert found is not None
    assert Path(found).resolve() == m.path.resolve()


@pytest.mark.parametrize("m", [m for m in CORE if not m.within(*WIRE)], ids=_ids)
def test_core_imports_no_io_framework_outside_the_wire_folder(m: Module) -> None:
    assert m.importing(*IO_FRAMEWORKS) == []


@pytest.mark.parametrize("m", CORE, ids=_ids)
def test_core_imports_neither_server_nor_client(m: Module) -> None:
    assert m.importing("crossforce.server", "crossforce.client", "crossforce.cli", "crossforce.testkit") == []


@pytest.mark.parametrize("m", [m for m in MODULES if m.within(*PURE)], ids=_ids)
def test_pure_packages_do_no_io(m: Module) -> None:
    assert m.importing(*IO_FRAMEWORKS, *FILE_IO) == []
    assert not m.calls_open


@pytest.mark.parametrize("m", [m for m in MODULES if m.within(*PURE)], ids=_ids)
def test_pure_packages_reach_only_pure_modules(m: Module) -> None:
    impure = {
        dep.name: dep.importing(*IO_FRAMEWORKS, *FILE_IO) or ["open()"]
        for dep in _reached(m)
        if dep.importing(*IO_FRAMEWORKS, *FILE_IO) or dep.calls_open
    }
    assert impure == {}, f"{m.name} reaches I/O through {impure}"


def test_the_import_walk_follows_imports() -> None:
    # Guards the walk itself: a pure module that reaches the domain through another must list both.
    reached = {dep.name for dep in _reached(BY_NAME["crossforce.crypto.pki"])}
    assert {"crossforce.crypto.certificates", "crossforce.crypto", "crossforce.domain"} <= reached


@pytest.mark.parametrize("m", [m for m in MODULES if m.within("crossforce.server")], ids=_ids)
def test_server_imports_no_client_code(m: Module) -> None:
    assert m.importing("crossforce.client", "crossforce.cli", "crossforce.testkit", *UI) == []


@pytest.mark.parametrize("m", [m for m in MODULES if m.within("crossforce.client")], ids=_ids)
def test_sdk_imports_no_cli_ui_or_server(m: Module) -> None:
    assert m.importing("crossforce.server", "crossforce.cli", "crossforce.testkit", *UI) == []


@pytest.mark.parametrize("m", [m for m in MODULES if not m.within("crossforce.cli")], ids=_ids)
def test_nothing_imports_the_cli(m: Module) -> None:
    assert m.importing("crossforce.cli") == []


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_bench_loadtests_and_scripts_do_not_import_the_cli(path: Path) -> None:
    assert _load(path.parts[len(ROOT.parts)], path).importing("crossforce.cli") == []


def _server_public_face() -> set[str]:
    import crossforce.server

    public = getattr(crossforce.server, "__all__", ())
    return {"crossforce.server", *(f"crossforce.server.{name}" for name in public)}


@pytest.mark.parametrize("m", [m for m in MODULES if m.within("crossforce.cli")], ids=_ids)
def test_cli_reaches_the_server_only_through_its_public_face(m: Module) -> None:
    assert set(m.importing("crossforce.server")) <= _server_public_face()


def _say_why(m: Module) -> None:
    if m.lines > MAX_LINES:
        why = f"over {MAX_LINES} lines"
        assert why in " ".join(m.docstring.split()), f"{m.name}: {m.lines} lines; split it or say why: {why}"


@pytest.mark.parametrize("m", MODULES, ids=_ids)
def test_long_modules_say_why(m: Module) -> None:
    _say_why(m)


@pytest.mark.parametrize("path", OUTSIDE + TEST_HELPERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_long_modules_outside_the_packages_say_why(path: Path) -> None:
    _say_why(_load(path.parts[len(ROOT.parts)], path))
