"""``crossforce org``: an organisation's profile (certificates, signing and box keys, network secret).

``create`` makes the profile folder and pins the matcher's log key from the file the operator published
(``--log-key-file``; without it the key is trusted on first use, with a warning saying how to pin it);
``pin-log-key`` pins (or confirms) it later; ``register`` sends the public keys to the matcher (logged in
the audit log), bound to the force-system certificate; ``rotate-keys`` replaces them, handed over by the
current signing key (issue 16, key continuity); ``show`` prints fingerprints and public keys, never a
private key or secret byte.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.text import Text

from crossforce.auditlog.logkey import log_id
from crossforce.cli.common import (
    json_option,
    load_profile,
    open_client,
    profile_option,
    role_option,
)
from crossforce.cli.logkeys import log_key_file_option
from crossforce.cli.render import emit_json, make_console, when
from crossforce.client.profile import Profile
from crossforce.client.profilekeys import own_keys
from crossforce.client.profileworkstation import WORKSTATION_ROLES, export_workstation
from crossforce.client.truststore import pin_published_log_key, read_published_log_key
from crossforce.domain import OrgKind, Role
from crossforce.errors import ValidationError
from crossforce.keystore import load_network_secret, pki


@click.group(name="org")
def org_group() -> None:
    """An organisation's profile: certificates, signing and box keys, network secret, token store.

    \b
    Example:
      crossforce org create ./humberside --org humberside --name "Humberside Police" \\
          --server localhost:50051 --pki ./pki --roles force-system,disclosure-officer \\
          --secret ./network-secret.json --log-key-file ./log-key.pub
      crossforce org register --profile ./humberside
    """


TOFU_WARNING = (
    "no --log-key-file: this profile will trust the first log key the matcher shows it. To pin the "
    "operator's published key instead, run: crossforce org pin-log-key --profile {path} log-key.pub"
)


@org_group.command("create")
@click.argument("profile_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--org", required=True, help="Organisation code, e.g. humberside.")
@click.option("--name", "display_name", default="", help="Display name, e.g. 'Humberside Police'.")
@click.option(
    "--server",
    required=True,
    help=(
        "The matcher's host:port, or several replicas comma-separated (host:port,host:port): "
        "calls that are safe to repeat fail over to the next."
    ),
)
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
@click.option(
    "--kind",
    type=click.Choice([k.value for k in OrgKind]),
    help="The organisation's kind, written into its certificates by the CA. Default: territorial-police for "
    "a force listed in forces.csv, else the kind already recorded in the PKI folder; say it for any other "
    "organisation (only police publish; only the operator's auditor reads the whole log).",
)
@log_key_file_option
@click.option("--dev-plaintext", is_flag=True, help="DEVELOPMENT ONLY: talk to a --dev-plaintext matcher.")
@json_option
def org_create(
    *,
    profile_dir: Path,
    org: str,
    display_name: str,
    server: str,
    pki_dir: Path | None,
    roles: str,
    secret_file: Path | None,
    kind: str | None,
    log_key_file: Path | None,
    dev_plaintext: bool,
    as_json: bool,
) -> None:
    """Create a profile folder: fresh signing and box keys, certificates per role, the network secret,
    and the matcher's log key pinned from the file the operator published (--log-key-file).

    \b
    Example:
      crossforce org create ./dbs --org dbs --name "Disclosure and Barring Service" \\
          --server localhost:50051 --pki ./pki --roles force-system,vetting-officer,auditor \\
          --secret ./network-secret.json --log-key-file ./log-key.pub
    """
    role_list = tuple(r.strip() for r in roles.split(",") if r.strip())
    for r in role_list:
        pki.validate_role(r)
    if pki_dir is None and not dev_plaintext:
        raise ValidationError("--pki is required to issue the profile's certificates (or --dev-plaintext)")
    if log_key_file is not None:
        read_published_log_key(log_key_file)  # a bad file is refused before any folder is made
    profile = Profile.create(
        profile_dir,
        org=org,
        display_name=display_name or org,
        server=server,
        pki_dir=pki.PkiDir(pki_dir) if pki_dir is not None else None,
        roles=role_list,
        secret=load_network_secret(secret_file) if secret_file else None,
        dev_plaintext=dev_plaintext,
        kind=OrgKind(kind) if kind else None,
    )
    pinned = pin_published_log_key(profile.trust_store(), log_key_file)[0] if log_key_file else None
    keys = profile.org_keys()
    if as_json:
        emit_json(
            {
                "org": profile.org,
                "display_name": profile.display_name,
                "path": str(profile.path),
                "server": profile.server,
                "roles": profile.roles(),
                "signing_key": keys.signing_public.hex(),
                "box_key": keys.box_public.hex(),
                "log_key": pinned.hex() if pinned else None,
                "log_key_pinned_from": str(log_key_file) if log_key_file else None,
            }
        )
    else:
        make_console().print(
            f"profile [bold]{profile.org}[/] ({profile.display_name}) created in {profile.path}\n"
            f"roles: {', '.join(profile.roles()) or 'none (dev plaintext)'}\n"
            f"signing key: {keys.signing_public.hex()}\nbox key:     {keys.box_public.hex()}\n"
            + (
                f"log key:     {pinned.hex()} (log {log_id(pinned)}, pinned from {log_key_file})\n"
                if pinned
                else ""
            )
            + "next: crossforce org register --profile "
            + str(profile.path)
        )
    if pinned is None:
        # soft_wrap: the command in the warning must stay on one line to be copied whole.
        make_console(stderr=True).print(
            Text(f"warning: {TOFU_WARNING.format(path=profile.path)}", style="yellow"), soft_wrap=True
        )


@org_group.command("pin-log-key")
@profile_option
@click.argument("log_key_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
def org_pin_log_key(profile_dir: Path, log_key_file: Path, as_json: bool) -> None:
    """Pin the matcher's log key from the file the operator published, or confirm the one pinned.

    A profile that already trusted another key on first use refuses the file (exit status 7): one of the
    two is not the matcher's key, so ask the operator before going on.

    \b
    Example:
      crossforce org pin-log-key --profile ./dbs ./log-key.pub
    """
    key, fresh = pin_published_log_key(load_profile(profile_dir).trust_store(), log_key_file)
    if as_json:
        emit_json({"log_key": key.hex(), "log_id": log_id(key), "newly_pinned": fresh})
        return
    what = "pinned" if fresh else "matches the key this profile had pinned"
    make_console().print(f"log key {key.hex()} (log {log_id(key)}) from {log_key_file}: {what}")


@org_group.command("register")
@profile_option
@role_option(Role.FORCE_SYSTEM)
@json_option
def org_register(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """Register this organisation's public keys with the matcher; logged in the audit log.

    The first registration is signed by the force-system certificate's key, so every other organisation
    can check the keys are yours. Then checks the keys the matcher logged for you are the ones you hold.

    \b
    Example:
      crossforce org register --profile ./humberside
    """
    with open_client(profile_dir, role, (Role.FORCE_SYSTEM,)) as client:
        org = client.register()
    if as_json:
        emit_json(
            {
                "org": org.org,
                "display_name": org.display_name,
                "key_version": org.key_version,
                "log_index": org.log_index,
                "registered_at_ms": org.registered_at_ms,
            }
        )
        return
    make_console().print(
        f"registered [bold]{org.org}[/] ({org.display_name}): key version {org.key_version}, "
        f"audit log entry {org.log_index}"
    )


@org_group.command("rotate-keys")
@profile_option
@role_option(Role.FORCE_SYSTEM)
@json_option
def org_rotate_keys(profile_dir: Path, role: str | None, as_json: bool) -> None:
    """Replace this organisation's signing and box keys; the current signing key signs the hand-over.

    The matcher and every other organisation refuse a key change without that signature, so the
    operator cannot swap your keys. The new keys wait in keys-pending/ until the matcher has logged
    them; if this is interrupted, run it again to finish. A lost signing key cannot be rotated: the
    organisation must be re-enrolled through the CA (not built yet).

    \b
    Example:
      crossforce org rotate-keys --profile ./humberside
    """
    with open_client(profile_dir, role, (Role.FORCE_SYSTEM,)) as client:
        org = client.rotate_keys()
    if as_json:
        emit_json({"org": org.org, "key_version": org.key_version, "log_index": org.log_index})
        return
    make_console().print(
        f"rotated the keys of [bold]{org.org}[/]: key version {org.key_version}, audit log entry "
        f"{org.log_index}; other organisations re-pin them after checking the hand-over"
    )


@org_group.command("export-workstation")
@profile_option
@click.option(
    "--roles",
    required=True,
    help=f"Comma-separated officer roles the workstation works in ({', '.join(sorted(WORKSTATION_ROLES))}).",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@json_option
def org_export_workstation(profile_dir: Path, roles: str, out_dir: Path, as_json: bool) -> None:
    """Write an officer's workstation profile: officer certificates, CA, network secret, public keys.

    The organisation's private keys stay in this (system) profile: a workstation checks and refuses with
    an officer credential (``crossforce officer issue``), and cannot register, publish, approve or open.

    \b
    Example:
      crossforce org export-workstation --profile ./dbs --roles vetting-officer --out ./dbs-ws
    """
    wanted = [r.strip() for r in roles.split(",") if r.strip()]
    made = export_workstation(load_profile(profile_dir), out_dir, roles=wanted)
    if as_json:
        emit_json({"profile": str(made.path), "org": made.org, "roles": sorted(made.roles())})
        return
    listed = ", ".join(sorted(made.roles()))
    make_console().print(
        f"workstation profile for [bold]{made.org}[/] at {made.path} (roles {listed});"
        " it holds no organisation private key"
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
    keys = own_keys(profile)  # a workstation holds the public file only
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
        "signing_key": keys.signing_key.hex() if keys else None,
        "box_key": keys.box_key.hex() if keys else None,
        "holds_org_keys": profile.holds_org_keys,
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
            "keys_match_local": keys is not None
            and bytes(found.signing_key) == keys.signing_key
            and bytes(found.box_key) == keys.box_key,
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
    if keys is None:
        console.print("  organisation keys: none in this profile (held by the system profile)")
    else:
        console.print(f"  signing key {doc['signing_key']}\n  box key     {doc['box_key']}")
        if not profile.holds_org_keys:
            console.print("  (public keys only: a workstation; the private keys stay on the system profile)")
    console.print(f"  network secret: epochs {epochs['epochs']} (current {epochs['current_epoch']})")
    if "token_store" in doc:
        console.print(f"  token store: {doc['token_store']}")
    if "registered" in doc:
        console.print(f"  registered with the matcher: {doc['registered']}")
