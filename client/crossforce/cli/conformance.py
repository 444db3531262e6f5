"""``crossforce conformance``: test an implementation of the encoding spec against the conformance kit.

``run -- CMD ARGS...`` starts the implementation and feeds it every vector over the JSON Lines contract
(tests/vectors/conformance/runner.md); ``list`` shows what the kit holds. The runner itself is
``crossforce.client.conformance``; this module only picks the kit, prints and chooses the exit status:
0 only when every vector passed, else VERIFICATION_FAILED (the implementation's tokens cannot be
trusted to meet ours), BAD_INPUT when the kit or the command cannot be used.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from crossforce.cli.common import json_option
from crossforce.cli.render import emit_json, make_console
from crossforce.cli.status import ExitStatus
from crossforce.client.conformance import (
    DEFAULT_TIMEOUT_S,
    Kit,
    Report,
    default_kit_dir,
    diff_lines,
    load_kit,
    run_kit,
)

DEFAULT_MAX_DIFFS = 20


def _kit(vectors: Path | None) -> Kit:
    return load_kit(vectors if vectors is not None else default_kit_dir())


vectors_option = click.option(
    "--vectors",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="The kit's folder (default: tests/vectors/conformance of this checkout).",
)


@click.group("conformance")
def conformance_group() -> None:
    """Test another implementation of the encoding spec (docs/spec.md) with the conformance kit.

    \b
    Example:
      crossforce conformance list
      crossforce conformance run -- node impl.js
    """


@conformance_group.command("run")
@vectors_option
@click.option("--only", multiple=True, metavar="OP", help="Run only this operation's vectors (repeatable).")
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(min=0.1, max=600.0),
    help="Seconds the implementation may take over one answer before it is restarted.",
)
@click.option(
    "--max-diffs",
    default=DEFAULT_MAX_DIFFS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Failures shown in full (0: all); the rest are counted per operation.",
)
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def run(
    ctx: click.Context,
    vectors: Path | None,
    only: tuple[str, ...],
    timeout: float,
    max_diffs: int,
    as_json: bool,
    command: tuple[str, ...],
) -> None:
    """Feed every vector to COMMAND over JSON Lines and print "N passed, M failed" with a diff per failure.

    COMMAND reads one request per line on stdin and writes one answer per line on stdout
    (tests/vectors/conformance/runner.md). Exits 0 only when every vector passed, else 7.

    \b
    Example:
      crossforce conformance run -- node impl.js
      crossforce conformance run --only fold --only keys -- ./impl
      crossforce conformance run --json -- python -m crossforce.client.conformance_ref
    """
    kit = _kit(vectors).only(only)
    console = make_console(stderr=True)
    if as_json or not console.is_terminal:
        report = run_kit(kit, command, timeout_s=timeout)
    else:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"{len(kit.vectors)} vectors", total=len(kit.vectors))
            report = run_kit(
                kit, command, timeout_s=timeout, progress=lambda n: bar.update(task, completed=n)
            )
    status = ExitStatus.SUCCESS if not report.failures else ExitStatus.VERIFICATION_FAILED
    if as_json:
        emit_json({**report.as_json(), "exit_status": int(status)})
        ctx.exit(int(status))
    _print_report(report, max_diffs)
    ctx.exit(int(status))


def _print_report(report: Report, max_diffs: int) -> None:
    out = make_console()
    shown = report.failures if max_diffs == 0 else report.failures[:max_diffs]
    for outcome in shown:
        for line in diff_lines(outcome):
            out.print(Text(line), soft_wrap=True)
        out.print()
    if len(shown) < len(report.failures):
        out.print(f"{len(report.failures) - len(shown)} more failures not shown (--max-diffs 0 shows all)")
    failed_ops = {op: c for op, c in report.by_op().items() if c["failed"]}
    if failed_ops:
        out.print("failed by operation: " + ", ".join(f"{op} {c['failed']}" for op, c in failed_ops.items()))
    if report.restarts:
        out.print(f"the implementation was restarted {report.restarts} times (timeouts or exits)")
    summary = f"{report.passed} passed, {len(report.failures)} failed"
    out.print(Text(summary, style="bold red" if report.failures else "green"))


@conformance_group.command("list")
@vectors_option
@json_option
def list_kit(vectors: Path | None, as_json: bool) -> None:
    """Show the kit: when it was made, the data files it needs, and its operations with vector counts.

    \b
    Example:
      crossforce conformance list
    """
    kit = _kit(vectors)
    manifest = kit.manifest
    ops = kit.ops()
    if as_json:
        emit_json(
            {
                "directory": str(kit.directory),
                "made": kit.made,
                "spec_version": manifest.get("spec_version"),
                "unicode_version": manifest.get("unicode_version"),
                "data_files": manifest.get("data_files", []),
                "ops": dict(ops),
                "rules": dict(kit.rules()),
                "vectors": len(kit.vectors),
            }
        )
        return
    out = make_console()
    out.print(
        Text(
            f"conformance kit {kit.directory}: spec version {manifest.get('spec_version')}, "
            f"Unicode {manifest.get('unicode_version')}, made {kit.made}, {len(kit.vectors)} vectors"
        ),
        soft_wrap=True,
    )
    for data in manifest.get("data_files", []):
        out.print(Text(f"  needs {data['path']}  sha256 {data['sha256']}"), soft_wrap=True)
    table = Table("operation", "vectors", "file")
    where = {v.op: v.file for v in kit.vectors}
    for op, count in ops.items():
        table.add_row(op, str(count), where[op])
    out.print(table)
    out.print(
        Text("rules: " + ", ".join(f"{rule} {n}" for rule, n in sorted(kit.rules().items()))), soft_wrap=True
    )
