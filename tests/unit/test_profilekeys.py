"""A profile's own public keys (``crossforce.client.profilekeys``): read without the private key file, so
an officer's workstation can build a client; and the clear error when something needs the private keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossforce.client.profile import Profile
from crossforce.client.profilekeys import anchors_of, load_public_keys, own_keys
from crossforce.crypto.orgkeys import OrgKeys
from crossforce.errors import NotFoundError, ValidationError
from crossforce.keystore import KEY_FILE, PUBLIC_FILE, save_org_keys


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    return Profile.create(
        tmp_path / "dbs",
        org="dbs",
        display_name="DBS",
        server="localhost:1",
        pki_dir=None,
        roles=(),
        secret=None,
        dev_plaintext=True,
    )


def test_a_workstation_reads_its_public_keys_without_the_private_file(profile: Profile) -> None:
    held = profile.org_keys()
    (profile.path / "keys" / KEY_FILE).unlink()
    own = own_keys(profile)
    assert own is not None
    assert (own.org, own.signing_key, own.box_key) == ("dbs", held.signing_public, held.box_public)
    assert anchors_of(profile).own == own
    assert not profile.holds_org_keys


def test_the_private_file_wins_over_a_stale_public_file(profile: Profile, tmp_path: Path) -> None:
    """A system profile's public file could lag its private keys; the private file is the truth."""
    other = tmp_path / "other"
    save_org_keys(OrgKeys.generate("dbs"), other)
    (profile.path / "keys" / PUBLIC_FILE).write_bytes((other / PUBLIC_FILE).read_bytes())
    own = own_keys(profile)
    assert own is not None and own.signing_key == profile.org_keys().signing_public


def test_a_profile_without_any_key_file_checks_its_history_against_the_ca_alone(profile: Profile) -> None:
    for name in (KEY_FILE, PUBLIC_FILE):
        (profile.path / "keys" / name).unlink()
    assert own_keys(profile) is None and anchors_of(profile).own is None


def test_missing_private_keys_name_the_file_and_who_holds_them(profile: Profile) -> None:
    (profile.path / "keys" / KEY_FILE).unlink()
    with pytest.raises(NotFoundError) as refused:
        profile.org_keys()
    said = str(refused.value)
    assert str(profile.path / "keys" / KEY_FILE) in said
    assert "system profile" in said and "crossforce org register" in said


def test_a_public_key_file_of_another_organisation_is_refused(tmp_path: Path) -> None:
    save_org_keys(OrgKeys.generate("kent"), tmp_path)
    with pytest.raises(ValidationError, match="keys belong to 'kent', expected 'dbs'"):
        load_public_keys(tmp_path, org="dbs")
    assert load_public_keys(tmp_path / "absent", org="dbs") is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"format": "x"}, "format must be"),
        ({"signing_public": "ab"}, "signing_public must be 64 hex"),
        ({"box_public": "zz" * 32}, "box_public is not hex"),
    ],
)
def test_a_malformed_public_key_file_is_refused(tmp_path: Path, change: dict[str, str], said: str) -> None:
    save_org_keys(OrgKeys.generate("dbs"), tmp_path)
    doc = json.loads((tmp_path / PUBLIC_FILE).read_text())
    (tmp_path / PUBLIC_FILE).write_text(json.dumps({**doc, **change}))
    with pytest.raises(ValidationError, match=said):
        load_public_keys(tmp_path, org="dbs")
