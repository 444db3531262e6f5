"""Deployment commands: ``serve``, ``pki``, ``keys`` (the network secret) and ``org`` (profiles).

These are what an operator and each force's administrator run once or rarely; they touch key material,
so they print fingerprints and epoch numbers but never a private key or secret byte.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from crossforce.cli.common import (
    ROLE_CHOICES,
    json_option,
    load_profile,
    open_client,
    profile_option,
    role_option,
)
from crossforce.cli.render import emit_json, make_console, when
from crossforce.client.profile import Profile
from crossforce.crypto import pki
from crossforce.crypto.secrets import NetworkSecret
from crossforce.errors import AlreadyExistsError, ValidationError
from crossforce.fsutil import atomic_write, read_limited

# --------------------------------------------------------------------------------------------- serve


@click.command()
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the matcher's SQLite store and log signing key.",
)
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="PKI folder from `crossforce pki init` (required unless --dev-plaintext).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=50051, show_default=True, type=int, help="0 picks a free port.")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file of server settings (purposes, quotas, limits).",
)
@click.option("--dev-plaintext", is_flag=True, help="DEVELOPMENT ONLY: no TLS, identity from a header.")
@click.option("--reflection", is_flag=True, help="Enable gRPC server reflection (for grpcurl).")
@click.option(
    "--deny-list",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fingerprint deny list to watch (default: PKI/revoked.txt).",
)
@click.option("--workers", default=16, show_default=True, type=int, help="gRPC worker threads.")
def serve(
    *,
    data_dir: Path,
    pki_dir: Path | None,
    host: str,
    port: int,
    settings_file: Path | None,
    dev_plaintext: bool,
    reflection: bool,
    deny_list: Path | None,
    workers: int,
) -> None:
    """Run the matcher until SIGINT or SIGTERM, then drain in-flight calls.

    Every caller must present a client certificate from the PKI's CA; the revoked-fingerprint list
    is re-read on change, without a restart.

    \b
    Example:
      crossforce serve --data /srv/crossforce --pki /etc/crossforce/pki --port 50051
    """
    from crossforce.server.app import serve as run
    from crossforce.server.settings import ServerSettings

    if pki_dir is None and not dev_plaintext:
        raise ValidationError("--pki is required (or --dev-plaintext for local development)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServerSettings.from_toml(settings_file) if settings_file else None
    run(
        data_dir=data_dir,
        pki_dir=pki_dir,
        host=host,
        port=port,
        settings=settings,
        dev_plaintext=dev_plaintext,
        reflection=reflection,
        deny_list=deny_list,
        max_workers=workers,
    )


# --------------------------------------------------------------------------------------------- pki


@click.group(name="pki")
def pki_group() -> None:
    """The deployment's certificate authority: one client certificate per organisation and role.

    \b
    Example:
      crossforce pki init ./pki --name "crossforce-prod"
      crossforce pki issue ./pki --org humberside --role force-system --profile ./humberside
    """


@pki_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="crossforce", show_default=True, help="The CA's common name.")
@click.option("--hostname", "hostnames", multiple=True, help="Server DNS name (repeat; default localhost).")
@click.option("--ip", "ips", multiple=True, help="Server IP address (repeat; default 127.0.0.1).")
def pki_init(directory: Path, name: str, hostnames: tuple[str, ...], ips: tuple[str, ...]) -> None:
    """Make a new CA and the matcher's server certificate in DIRECTORY (refuses to overwrite a CA).

    \b
    Example:
      crossforce pki init ./pki --name crossforce-local --hostname matcher.example --ip 10.0.0.5
    """
    folder = pki.PkiDir.create(
        directory, name=name, hostnames=hostnames or ("localhost",), ips=ips or ("127.0.0.1",)
    )
    ca = pki.fingerprint(folder.ca_cert_pem())
    make_console().print(f"CA [bold]{name}[/] created in {folder.path}\nCA fingerprint (SHA-256): {ca}")


def _install(profile_dir: Path | None, role: str, pair: pki.CertKeyPair) -> str:
    if profile_dir is None:
        return ""
    profile = load_profile(profile_dir)
    profile.install_cert(role, pair)
    return f"; installed in profile {profile.path}"


@pki_group.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--org", required=True, help="Organisation code, e.g. humberside.")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--days", default=pki.DEFAULT_CLIENT_DAYS, show_default=True, type=int)
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also install the certificate and key into this profile.",
)
def pki_issue(directory: Path, org: str, role: str, days: int, profile_dir: Path | None) -> None:
    """Issue a first certificate for ORG/ROLE (use renew to replace one).

    \b
    Example:
      crossforce pki issue ./pki --org kent --role disclosure-officer --days 30 --profile ./kent
    """
    pair = pki.PkiDir(directory).issue(org, role, valid_days=days)
    ident = pki.identity_from_pem(pair.cert_pem)
    make_console().print(
        f"issued {org}/{role} until {ident.not_after:%Y-%m-%d %H:%M} UTC, fingerprint {ident.fingerprint}"
        + _install(profile_dir, role, pair)
    )


@pki_group.command("renew")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--org", required=True)
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--days", default=pki.DEFAULT_CLIENT_DAYS, show_default=True, type=int)
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also install the new certificate and key into this profile.",
)
def pki_renew(directory: Path, org: str, role: str, days: int, profile_dir: Path | None) -> None:
    """Replace ORG/ROLE's certificate with one on a fresh key (revoke the old one first if compromised).

    \b
    Example:
      crossforce pki renew ./pki --org kent --role force-system --profile ./kent
    """
    pair = pki.PkiDir(directory).renew(org, role, valid_days=days)
    ident = pki.identity_from_pem(pair.cert_pem)
    make_console().print(
        f"renewed {org}/{role} until {ident.not_after:%Y-%m-%d %H:%M} UTC, fingerprint {ident.fingerprint}"
        + _install(profile_dir, role, pair)
    )


def _revoke_cert_file(folder: pki.PkiDir, cert_file: Path) -> pki.Identity:
    """Append a certificate's fingerprint to the deny list the matcher re-reads on change."""
    cert_pem = read_limited(cert_file, pki.MAX_PEM_BYTES)
    ident = pki.identity_from_pem(cert_pem)
    # Only certificates this CA issued belong in its deny list; check at a moment inside their validity
    # so that revoking an already expired certificate still works.
    pki.verify_chain(folder.ca_cert_pem(), cert_pem, at=ident.not_after - dt.timedelta(seconds=1))
    if ident.fingerprint in folder.revoked_fingerprints():
        return ident
    path = folder.path / folder.REVOKED
    try:
        existing = read_limited(path, 16 * 1024 * 1024)
    except FileNotFoundError:
        existing = b""
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    line = f"{ident.fingerprint}  # {ident.org}/{ident.role} until {ident.not_after:%Y-%m-%dT%H:%M:%SZ}\n"
    atomic_write(path, existing + line.encode(), mode=0o644)
    return ident


@pki_group.command("revoke")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--cert",
    "cert_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The certificate (PEM) to deny.",
)
@click.option("--org", help="Instead of --cert: deny ORG/ROLE's current certificate.")
@click.option("--role", type=click.Choice(ROLE_CHOICES))
def pki_revoke(directory: Path, cert_file: Path | None, org: str | None, role: str | None) -> None:
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
    make_console().print(
        f"revoked {ident.org}/{ident.role} fingerprint {ident.fingerprint}; "
        f"the matcher refuses it from its next call"
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
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "org": i.org,
            "role": i.role,
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
    for col in ("org", "role", "valid until (UTC)", "status", "fingerprint"):
        table.add_column(col, no_wrap=col == "fingerprint")
    for r in rows:
        status = (
            Text("revoked", "bold red")
            if r["revoked"]
            else Text("expired", "red")
            if r["expired"]
            else Text("valid", "green")
        )
        table.add_row(str(r["org"]), str(r["role"]), str(r["not_after"])[:16], status, str(r["fingerprint"]))
    console = make_console()
    console.print(table)
    if revoked - {str(r["fingerprint"]) for r in rows}:
        console.print(
            f"{len(revoked - {str(r['fingerprint']) for r in rows})} further revoked fingerprints "
            "(superseded certificates)"
        )


# --------------------------------------------------------------------------------------------- keys


@click.group(name="keys")
def keys_group() -> None:
    """The network secret every force makes its tokens with, in numbered epochs.

    The matcher never holds it. Distribute the file out of band; `show` prints epochs, never bytes.

    \b
    Example:
      crossforce keys create ./network-secret.json
      crossforce keys export ./network-secret.json --to ./humberside
    """


def _describe(secret: NetworkSecret) -> str:
    return f"epochs {', '.join(str(e) for e in secret.active_epochs)} (current {secret.current_epoch})"


@keys_group.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def keys_create(file: Path) -> None:
    """Make a new network secret with epoch 1 (refuses to overwrite an existing file).

    \b
    Example:
      crossforce keys create ./network-secret.json
    """
    if file.exists():
        raise AlreadyExistsError(f"{file} already exists; rotate it instead of replacing it")
    secret = NetworkSecret.create()
    secret.save(file)
    make_console().print(f"network secret written to {file} (mode 0600): {_describe(secret)}")


@keys_group.command("rotate")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def keys_rotate(file: Path) -> None:
    """Add a new epoch and make it current; earlier epochs keep matching until retired.

    \b
    Example:
      crossforce keys rotate ./network-secret.json
    """
    secret = NetworkSecret.load(file).rotate()
    secret.save(file)
    make_console().print(
        f"rotated {file}: {_describe(secret)}. Distribute it, have every force republish, "
        "then retire the old epoch."
    )


@keys_group.command("retire")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("epoch", type=int)
def keys_retire(file: Path, epoch: int) -> None:
    """Drop EPOCH from the secret: tokens made under it stop matching.

    \b
    Example:
      crossforce keys retire ./network-secret.json 1
    """
    secret = NetworkSecret.load(file).retire(epoch)
    secret.save(file)
    make_console().print(f"retired epoch {epoch} in {file}: {_describe(secret)}")


def _install_secret(secret: NetworkSecret, profile_dir: Path, *, allow_older: bool) -> str:
    profile = load_profile(profile_dir)
    try:
        held: NetworkSecret | None = profile.secret()
    except Exception:  # no secret yet (or an unreadable one, which we replace)
        held = None
    if held is not None and not allow_older and secret.current_epoch < held.current_epoch:
        raise ValidationError(
            f"the file's current epoch {secret.current_epoch} is older than "
            f"the profile's {held.current_epoch}; "
            "pass --allow-older to install it anyway"
        )
    profile.save_secret(secret)
    before = _describe(held) if held is not None else "no secret"
    return f"profile {profile.org}: {before} -> {_describe(secret)}"


@keys_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--to",
    "profile_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The profile folder to install the secret into.",
)
@click.option("--allow-older", is_flag=True, help="Install even if the profile holds a newer epoch.")
def keys_export(file: Path, profile_dir: Path, allow_older: bool) -> None:
    """Install the network secret FILE into a force's profile.

    \b
    Example:
      crossforce keys export ./network-secret.json --to ./humberside
    """
    message = _install_secret(NetworkSecret.load(file), profile_dir, allow_older=allow_older)
    make_console().print(f"installed {file}: {message}")


@keys_group.command("import")
@profile_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--allow-older", is_flag=True, help="Install even if the profile holds a newer epoch.")
def keys_import(profile_dir: Path, file: Path, allow_older: bool) -> None:
    """Import a network secret FILE you received into your profile.

    \b
    Example:
      crossforce keys import --profile ./kent ./network-secret-epoch2.json
    """
    message = _install_secret(NetworkSecret.load(file), profile_dir, allow_older=allow_older)
    make_console().print(f"imported {file}: {message}")


@keys_group.command("show")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--profile",
    "profile_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Show the secret held by this profile instead of FILE.",
)
@json_option
def keys_show(file: Path | None, profile_dir: Path | None, as_json: bool) -> None:
    """Show a network secret's epochs (never the secret bytes).

    \b
    Example:
      crossforce keys show ./network-secret.json
    """
    if file is not None:
        secret = NetworkSecret.load(file)
    elif profile_dir is not None:
        secret = load_profile(profile_dir).secret()
    else:
        raise ValidationError("give a FILE or --profile")
    if as_json:
        emit_json({"current_epoch": secret.current_epoch, "epochs": list(secret.active_epochs)})
        return
    make_console().print(f"network secret: {_describe(secret)}")


# --------------------------------------------------------------------------------------------- org


@click.group(name="org")
def org_group() -> None:
    """An organisation's profile: certificates, signing and box keys, network secret, token store.

    \b
    Example:
      crossforce org create ./humberside --org humberside --name "Humberside Police" \\
          --server localhost:50051 --pki ./pki --roles force-system,disclosure-officer \\
          --secret ./network-secret.json
      crossforce org register --profile ./humberside
    """


@org_group.command("create")
@click.argument("profile_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", required=True, help="Organisation code, e.g. humberside.")
@click.option("--name", "display_name", default="", help="Display name, e.g. 'Humberside Police'.")
@click.option("--server", required=True, help="The matcher's host:port.")
@click.option(
    "--pki",
    "pki_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="PKI folder to issue this organisation's certificates from.",
)
@click.option(
    "--roles",
    default="force-system,disclosure-officer",
    show_default=True,
    help="Comma-separated roles to issue certificates for.",
)
@click.option(
    "--secret",
    "secret_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Network secret file to install.",
)
@click.option("--dev-plaintext", is_flag=True, help="DEVELOPMENT ONLY: talk to a --dev-plaintext matcher.")
def org_create(
    *,
    profile_dir: Path,
    org: str,
    display_name: str,
    server: str,
    pki_dir: Path | None,
    roles: str,
    secret_file: Path | None,
    dev_plaintext: bool,
) -> None:
    """Create a profile folder: fresh signing and box keys, certificates per role, the network secret.

    \b
    Example:
      crossforce org create ./dbs --org dbs --name "Disclosure and Barring Service" \\
          --server localhost:50051 --pki ./pki --roles force-system,vetting-officer,auditor \\
          --secret ./network-secret.json
    """
    role_list = tuple(r.strip() for r in roles.split(",") if r.strip())
    for r in role_list:
        pki.validate_role(r)
    if pki_dir is None and not dev_plaintext:
        raise ValidationError("--pki is required to issue the profile's certificates (or --dev-plaintext)")
    profile = Profile.create(
        profile_dir,
        org=org,
        display_name=display_name or org,
        server=server,
        pki_dir=pki.PkiDir(pki_dir) if pki_dir is not None else None,
        roles=role_list,
        secret=NetworkSecret.load(secret_file) if secret_file else None,
        dev_plaintext=dev_plaintext,
    )
    keys = profile.org_keys()
    make_console().print(
        f"profile [bold]{profile.org}[/] ({profile.display_name}) created in {profile.path}\n"
        f"roles: {', '.join(profile.roles()) or 'none (dev plaintext)'}\n"
        f"signing key: {keys.signing_public.hex()}\nbox key:     {keys.box_public.hex()}\n"
        "next: crossforce org register --profile " + str(profile.path)
    )


@org_group.command("register")
@profile_option
@role_option("force-system")
def org_register(profile_dir: Path, role: str | None) -> None:
    """Register (or rotate) this organisation's public keys with the matcher; logged in the audit log.

    \b
    Example:
      crossforce org register --profile ./humberside
    """
    with open_client(profile_dir, role, ("force-system",)) as client:
        org = client.register()
    make_console().print(
        f"registered [bold]{org.org}[/] ({org.display_name}): key version {org.key_version}, "
        f"audit log entry {org.log_index}"
    )


@org_group.command("show")
@profile_option
@click.option("--remote", is_flag=True, help="Also fetch the keys the matcher holds for this organisation.")
@json_option
def org_show(profile_dir: Path, remote: bool, as_json: bool) -> None:
    """Show a profile: organisation, matcher, certificates, public keys, secret epochs, token store.

    \b
    Example:
      crossforce org show --profile ./humberside --remote
    """
    profile = load_profile(profile_dir)
    keys = profile.org_keys()
    certs = []
    for role in profile.roles():
        ident = pki.identity_from_pem(profile.cert_pair(role).cert_pem)
        certs.append(
            {"role": role, "not_after": ident.not_after.isoformat(), "fingerprint": ident.fingerprint}
        )
    try:
        secret = profile.secret()
        epochs: dict[str, object] = {
            "current_epoch": secret.current_epoch,
            "epochs": list(secret.active_epochs),
        }
    except Exception:
        epochs = {"current_epoch": None, "epochs": []}
    state = profile.state()
    doc: dict[str, object] = {
        "org": profile.org,
        "display_name": profile.display_name,
        "server": profile.server,
        "dev_plaintext": profile.dev_plaintext,
        "certificates": certs,
        "signing_key": keys.signing_public.hex(),
        "box_key": keys.box_public.hex(),
        "network_secret": epochs,
        "pinned_orgs": sorted(state.get("pins", {})),
        "has_tree_head": "tree_head" in state,
    }
    if profile.token_store_path.exists():
        from crossforce.client.tokenstore import TokenStore

        store = TokenStore(profile.token_store_path)
        try:
            records, tokens = store.count()
        finally:
            store.close()
        doc["token_store"] = {"records": records, "tokens": tokens}
    if remote:
        with open_client(profile_dir, None, (*profile.roles(), "force-system")) as client:
            found = client.organisation_keys(profile.org)
        doc["registered"] = {
            "key_version": found.key_version,
            "registered_at": when(found.registered_at_ms),
            "log_index": found.log_index,
            "keys_match_local": bytes(found.signing_key) == keys.signing_public
            and bytes(found.box_key) == keys.box_public,
        }
    if as_json:
        emit_json(doc)
        return
    console = make_console()
    console.print(
        f"[bold]{profile.display_name}[/] ({profile.org}) at {profile.server}"
        + ("  [red]DEV PLAINTEXT[/]" if profile.dev_plaintext else "")
    )
    for c in certs:
        console.print(f"  certificate {c['role']:<20} until {str(c['not_after'])[:16]}  {c['fingerprint']}")
    console.print(f"  signing key {doc['signing_key']}\n  box key     {doc['box_key']}")
    console.print(f"  network secret: epochs {epochs['epochs']} (current {epochs['current_epoch']})")
    if "token_store" in doc:
        console.print(f"  token store: {doc['token_store']}")
    if "registered" in doc:
        console.print(f"  registered with the matcher: {doc['registered']}")
