"""The ``crossforce`` command line: one entry point for the matcher, forces, vetting desks and auditors.

Commands live in ``cli_admin`` (serve, pki, keys, org), ``cli_vetting`` (publish, check, check-batch,
disclosures), ``cli_desk`` (desk), ``cli_audit`` (audit, status, report) and ``demo``; this module
only assembles them under the root group, whose error boundary is in ``cli_common``.
"""

from __future__ import annotations

import click

from crossforce.cli import (
    admin as cli_admin,
)
from crossforce.cli import (
    audit as cli_audit,
)
from crossforce.cli import (
    desk as cli_desk,
)
from crossforce.cli import (
    vetting as cli_vetting,
)
from crossforce.cli.common import CrossforceGroup


@click.group(
    cls=CrossforceGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(package_name="crossforce")
def cli() -> None:
    """Privacy-preserving cross-force nominal search for the police forces of England and Wales.

    Forces publish keyed-hash Bloom-filter indexes; vetting officers check candidates without the
    matcher seeing a name; hits open disclosure requests that holding forces approve or refuse; every
    step lands in a verifiable audit log.

    \b
    Start here:
      crossforce demo                  # the whole story on this machine, about a minute
      crossforce COMMAND --help        # each command, with an example
    """


def _demo_command() -> click.Command:
    from crossforce.testkit.demo import demo

    return demo


cli.add_command(cli_admin.serve)
cli.add_command(cli_admin.pki_group)
cli.add_command(cli_admin.keys_group)
cli.add_command(cli_admin.org_group)
cli.add_command(cli_vetting.publish)
cli.add_command(cli_vetting.check)
cli.add_command(cli_vetting.check_batch)
cli.add_command(cli_vetting.disclosures_group)
cli.add_command(cli_desk.desk_group)
cli.add_command(cli_audit.audit_group)
cli.add_command(cli_audit.status)
cli.add_command(cli_audit.report)
cli.add_command(_demo_command())


def main() -> None:
    """Console-script entry point (pyproject: ``crossforce = crossforce.cli.main:main``)."""
    cli(prog_name="crossforce")
