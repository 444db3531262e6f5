"""``crossforce pki``: the deployment's certificate authority, one certificate per organisation and role.

These touch key material, so they print fingerprints and validity, never a private key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from crossforce.cli.common import (
    F,
    json_option,
    load_profile,
)
from crossforce.cli.render import emit_json, make_console
from crossforce.clock import utc_now
from crossforce.domain import ROLES
from crossforce.domain.enums import OrgKind
from crossforce.errors import ValidationError
from crossforce.fsutil import read_limited
from crossforce.keystore import pki


@click.group(name="pki")
def pki_group() -> None:
    """The deployment's certificate authority: one client certificate per organisation and role.

    Every client certificate names its organisation's kind (territorial-police, national-police,
    vetting-body or operator). Only police forces publish and act as holders; only the operator's
    auditors read the whole audit log.

    \b
    Example:
      crossforce pki init ./pki --name "crossforce-prod"
      crossforce pki issue ./pki --org humberside --role force-system --profile ./humberside
      crossforce pki issue ./pki --org dbs --role vetting-officer --kind vetting-body
      crossforce pki issue ./pki --org inspectorate --role auditor --kind operator
      crossforce pki export-server --pki ./pki --to ./matcher-pki
    """


def certificate_options(*, org_help: str | None, profile_help: str) -> Callable[[F], F]:
    """The options ``issue`` and ``renew`` share: the PKI folder, whose certificate, for how long, and
    the profile to install it into (datasette's shared option stacks)."""

    def wrap(f: F) -> F:
        f = click.option(
            "--profile",
            "profile_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help=profile_help,
        )(f)
        f = click.option("--days", default=pki.DEFAULT_CLIENT_DAYS, show_default=True, type=int)(f)
        f = click.option("--role", required=True, type=click.Choice(ROLES))(f)
        f = click.option("--org", required=True, help=org_help)(f)
        f = json_option(f)
        return click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))(f)

    return wrap


@pki_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="crossforce", show_default=True, help="The CA's common name.")
@click.option("--hostname", "hostnames", multiple=True, help="Server DNS name (repeat; default localhost).")
@click.option("--ip", "ips", multiple=True, help="Server IP address (repeat; default 127.0.0.1).")
@json_option
def pki_init(
    directory: Path, name: str, hostnames: tuple[str, ...], ips: tuple[str, ...], as_json: bool
) -> None:
    """Make a new CA and the matcher's server certificate in DIRECTORY (refuses to overwrite a CA).

    \b
    Example:
      crossforce pki init ./pki --name crossforce-local --hostname matcher.example --ip 10.0.0.5
    """
    folder = pki.PkiDir.create(
        directory, name=name, hostnames=hostnames or ("localhost",), ips=ips or ("127.0.0.1",)
    )
    pki.ensure_deny_list(folder)  # a deny list from the start: the matcher refuses to run without one
    ca = pki.fingerprint(folder.ca_cert_pem())
    if as_json:
        emit_json({"ca_name": name, "directory": str(folder.path), "ca_fingerprint": ca})
        return
    make_console().print(f"CA [bold]{name}[/] created in {folder.path}\nCA fingerprint (SHA-256): {ca}")


def _install(profile_dir: Path | None, role: str, pair: pki.CertKeyPair) -> Path | None:
    """Install the pair into the profile, if one was given; the profile's folder, else ``None``."""
    if profile_dir is None:
        return None
    profile = load_profile(profile_dir)
    profile.install_cert(role, pair)
    return profile.path


def _kind_text(kind: OrgKind | None) -> str:
    return kind.value if kind is not None else "unknown"


def _report_certificate(verb: str, pair: pki.CertKeyPair, installed: Path | None, as_json: bool) -> None:
    """What ``issue`` and ``renew`` print: whose certificate, until when, its fingerprint, where it went."""
    ident = pki.identity_from_pem(pair.cert_pem)
    if as_json:
        emit_json(
            {
                "action": verb,
                "org": ident.org,
                "role": ident.role,
                "kind": _kind_text(ident.kind),
                "not_after": ident.not_after.isoformat(),
                "fingerprint": ident.fingerprint,
                "installed_in": str(installed) if installed is not None else None,
            }
        )
        return
    where = f"; installed in profile {installed}" if installed is not None else ""
    make_console().print(
        f"{verb} {ident.org}/{ident.role} ({_kind_text(ident.kind)}) "
        f"until {ident.not_after:%Y-%m-%d %H:%M} UTC, "
        f"fingerprint {ident.fingerprint}{where}"
    )


@pki_group.command("issue")
@certificate_options(
    org_help="Organisation code, e.g. humberside.",
    profile_help="Also install the certificate and key into this profile.",
)
@click.option(
    "--kind",
    type=click.Choice([k.value for k in OrgKind]),
    help="The organisation's kind. Default: territorial-police for a force listed in forces.csv, else "
    "the kind already recorded for ORG; required for any other organisation.",
)
def pki_issue(
    directory: Path,
    org: str,
    role: str,
    days: int,
    profile_dir: Path | None,
    as_json: bool,
    kind: str | None,
) -> None:
    """Issue a first certificate for ORG/ROLE (use renew to replace one).

    The CA records ORG's kind the first time it is given and puts it in every certificate of ORG.
    disclosure-officer goes to police kinds only; whatever the role, the matcher lets only police kinds
    publish and act as holders, and only operator-kind auditors read the whole audit log.

    \b
    Example:
      crossforce pki issue ./pki --org kent --role disclosure-officer --days 30 --profile ./kent
      crossforce pki issue ./pki --org dbs --role vetting-officer --kind vetting-body --profile ./dbs
      crossforce pki issue ./pki --org inspectorate --role auditor --kind operator
    """
    folder = pki.PkiDir(directory)
    if kind is None and folder.kind_of(org) is None:
        raise ValidationError(
            f"{org} is not a force listed in forces.csv and has no recorded kind: say which it is with "
            f"--kind ({', '.join(k.value for k in OrgKind)})",
            field="kind",
        )
    pair = folder.issue(org, role, valid_days=days, kind=kind)
    _report_certificate("issued", pair, _install(profile_dir, role, pair), as_json)


@pki_group.command("renew")
@certificate_options(
    org_help=None, profile_help="Also install the new certificate and key into this profile."
)
def pki_renew(
    directory: Path, org: str, role: str, days: int, profile_dir: Path | None, as_json: bool
) -> None:
    """Replace ORG/ROLE's certificate with one on a fresh key (revoke the old one first if compromised).

    \b
    Example:
      crossforce pki renew ./pki --org kent --role force-system --profile ./kent
    """
    pair = pki.PkiDir(directory).renew(org, role, valid_days=days)
    _report_certificate("renewed", pair, _install(profile_dir, role, pair), as_json)


def _revoke_cert_file(folder: pki.PkiDir, cert_file: Path) -> pki.Identity:
    """Append a certificate's fingerprint to the deny list the matcher re-reads on change."""
    cert_pem = read_limited(cert_file, pki.MAX_PEM_BYTES)
    ident = pki.identity_from_pem(cert_pem)
    # Only certificates this CA issued belong in its deny list; check at a moment inside their validity
    # so that revoking an already expired certificate still works.
    pki.verify_chain(folder.ca_cert_pem(), cert_pem, at=ident.not_after - dt.timedelta(seconds=1))
    return folder.deny(ident)


@pki_group.command("revoke")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The certificate (PEM) to deny.",
)
@click.option("--org", help="Instead of --cert: deny ORG/ROLE's current certificate.")
@click.option("--role", type=click.Choice(ROLES))
@json_option
def pki_revoke(
    directory: Path, cert_file: Path | None, org: str | None, role: str | None, as_json: bool
) -> None:
    """Deny a certificate before its expiry: its fingerprint goes into DIRECTORY/revoked.txt.

    A running matcher re-reads the file on change and refuses the certificate on its next call.

    \b
    Example:
      crossforce pki revoke ./pki --cert ./kent/certs/force-system.pem
      crossforce pki revoke ./pki --org kent --role force-system
    """
    folder = pki.PkiDir(directory)
    if cert_file is not None:
        ident = _revoke_cert_file(folder, cert_file)
    elif org and role:
        ident = folder.revoke(org, role)
    else:
        raise ValidationError("give --cert FILE, or --org and --role")
    if as_json:
        emit_json(
            {"action": "revoked", "org": ident.org, "role": ident.role, "fingerprint": ident.fingerprint}
        )
        return
    make_console().print(
        f"revoked {ident.org}/{ident.role} fingerprint {ident.fingerprint}; copy it to the matcher with "
        f"`crossforce pki export-server --pki {directory} --to MATCHER_PKI --deny-list-only` "
        "(the matcher refuses it within a second of that)"
    )


@pki_group.command("export-server")
@click.option(
    "--pki",
    "ca_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The CA folder from `crossforce pki init`.",
)
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The matcher's PKI folder to write (must be missing or empty).",
)
@click.option(
    "--deny-list-only",
    is_flag=True,
    help="Only refresh revoked.txt in a folder exported before (after `pki revoke`).",
)
@json_option
def pki_export_server(ca_dir: Path, dest: Path, deny_list_only: bool, as_json: bool) -> None:
    """Write the matcher's PKI folder: CA certificate, server certificate and key, deny list. Nothing else.

    Serve with `crossforce serve --pki DEST`; keep the CA folder (CA key, client keys) off the matcher's
    machine. DEST is made 0700 with the key 0600; a non-empty DEST is refused. After every `pki revoke`,
    run again with --deny-list-only (or copy revoked.txt): the matcher re-reads it within a second.

    \b
    Example:
      crossforce pki export-server --pki ./pki --to /etc/crossforce/pki
      crossforce pki export-server --pki ./pki --to /etc/crossforce/pki --deny-list-only
    """
    folder = pki.PkiDir(ca_dir)
    done = pki.refresh_deny_list(folder, dest) if deny_list_only else pki.export_server(folder, dest)
    if as_json:
        emit_json({"action": "exported", "directory": str(done.path), "files": list(done.files)})
        return
    make_console().print(
        f"wrote {', '.join(done.files)} to {done.path}; serve with `crossforce serve --pki {done.path}`"
    )


@pki_group.command("list")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@json_option
def pki_list(directory: Path, as_json: bool) -> None:
    """List the certificates issued from DIRECTORY, with expiry and revocation.

    \b
    Example:
      crossforce pki list ./pki --json
    """
    folder = pki.PkiDir(directory)
    revoked = folder.revoked_fingerprints()
    now = utc_now()
    rows = [
        {
            "org": i.org,
            "role": i.role,
            "kind": _kind_text(i.kind),
            "fingerprint": i.fingerprint,
            "not_after": i.not_after.isoformat(),
            "expired": i.not_after <= now,
            "revoked": i.fingerprint in revoked,
        }
        for i in folder.issued()
    ]
    if as_json:
        emit_json(
            {
                "ca_fingerprint": pki.fingerprint(folder.ca_cert_pem()),
                "certificates": rows,
                "revoked": sorted(revoked),
            }
        )
        return
    table = Table(title=f"certificates issued by {folder.path}", title_justify="left")
    for col in ("org", "kind", "role", "valid until (UTC)", "status", "fingerprint"):
        table.add_column(col, no_wrap=col == "fingerprint")
    for r in rows:
        status = (
            Text("revoked", "bold red")
            if r["revoked"]
            else Text("expired", "red")
            if r["expired"]
            else Text("valid", "green")
        )
        table.add_row(
            str(r["org"]),
            str(r["kind"]),
            str(r["role"]),
            str(r["not_after"])[:16],
            status,
            str(r["fingerprint"]),
        )
    console = make_console()
    console.print(table)
    if revoked - {str(r["fingerprint"]) for r in rows}:
        console.print(
            f"{len(revoked - {str(r['fingerprint']) for r in rows})} further revoked fingerprints "
            "(superseded certificates)"
        )
