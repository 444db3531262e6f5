"""The ``crossforce`` command line: one entry point for the matcher, forces, vetting desks and auditors.

One module per command or command group, named after it: ``serve``, ``pki``, ``keys``, ``org``
(deployment), ``publish``, ``check`` (check, check-batch), ``disclosures``, ``desk`` (a force's
disclosure desk), ``audit``, ``oversight`` (status, report), ``doctor``, ``demo``, ``config`` (a
profile's defaults) and ``completion`` (shell completion scripts). This module only assembles them
under the root group, whose error boundary and exit statuses are in ``common`` and ``status``.
The CLI is a leaf: nothing else in the project imports it.
"""

from __future__ import annotations

import click

from crossforce.cli.audit import audit_group
from crossforce.cli.backup import backup, restore
from crossforce.cli.calibrate import calibrate
from crossforce.cli.check import check, check_batch
from crossforce.cli.common import CrossforceGroup
from crossforce.cli.completion import completion
from crossforce.cli.config import config_group
from crossforce.cli.conformance import conformance_group
from crossforce.cli.db import db_group
from crossforce.cli.demo import demo
from crossforce.cli.desk import desk_group
from crossforce.cli.disclosures import disclosures_group
from crossforce.cli.doctor import doctor
from crossforce.cli.epoch import epoch_group
from crossforce.cli.keys import keys_group
from crossforce.cli.officer import officer_group
from crossforce.cli.org import org_group
from crossforce.cli.oversight import report, status
from crossforce.cli.pki import pki_group
from crossforce.cli.publish import publish
from crossforce.cli.serve import serve
from crossforce.cli.validate import validate
from crossforce.cli.witness import witness_group


@click.group(
    cls=CrossforceGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(package_name="crossforce-client")
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


for command in (
    serve,
    backup,
    restore,
    db_group,
    calibrate,
    pki_group,
    keys_group,
    officer_group,
    epoch_group,
    org_group,
    validate,
    publish,
    check,
    check_batch,
    disclosures_group,
    desk_group,
    audit_group,
    witness_group,
    status,
    report,
    doctor,
    demo,
    config_group,
    conformance_group,
    completion,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point (pyproject: ``crossforce = crossforce.cli.main:main``)."""
    cli(prog_name="crossforce")
