"""``crossforce org``: an organisation's profile (certificates, signing and box keys, network secret).

``create`` makes the profile folder; ``register`` sends the public keys to the matcher (logged in the
audit log); ``show`` prints fingerprints and public keys, never a private key or secret byte.
"""

from __future__ import annotations

from pathlib import Path

import click

from crossforce.cli.common import (
    json_option,
    load_profile,
    open_client,
    profile_option,
    role_option,
)
from crossforce.cli.render import emit_json, make_console, when
from crossforce.client.profile import Profile
from crossforce.domain import Role
from crossforce.errors import ValidationError
from crossforce.keystore import load_network_secret, pki


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
        secret=load_network_secret(secret_file) if secret_file else None,
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
@role_option(Role.FORCE_SYSTEM)
def org_register(profile_dir: Path, role: str | None) -> None:
    """Register (or rotate) this organisation's public keys with the matcher; logged in the audit log.

    \b
    Example:
      crossforce org register --profile ./humberside
    """
    with open_client(profile_dir, role, (Role.FORCE_SYSTEM,)) as client:
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
        with open_client(profile_dir, None, (*profile.roles(), Role.FORCE_SYSTEM)) as client:
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
