"""The network secret and its epochs (crossforce.crypto.secrets)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crossforce.crypto.secrets import FORMAT, SECRET_BYTES, NetworkSecret
from crossforce.errors import NotFoundError, ValidationError
from crossforce.keystore import load_network_secret, save_network_secret


def test_create_has_one_random_epoch() -> None:
    one, two = NetworkSecret.create(), NetworkSecret.create()
    assert one.current_epoch == 1
    assert one.active_epochs == (1,)
    assert len(one.secret_for(1)) == SECRET_BYTES
    assert one.secret_for(1) != two.secret_for(1)
    assert one.current_secret == one.secret_for(1)


def test_rotate_adds_new_current_epoch_and_keeps_previous() -> None:
    first = NetworkSecret.create()
    second = first.rotate()
    assert second.current_epoch == 2
    assert second.active_epochs == (1, 2)
    assert second.secret_for(1) == first.secret_for(1)
    assert second.secret_for(2) != first.secret_for(1)
    assert first.active_epochs == (1,), "rotate must not change the original"


def test_retire_drops_epoch_and_numbers_never_reuse() -> None:
    secret = NetworkSecret.create().rotate().rotate().retire(1).retire(2)
    assert secret.active_epochs == (3,)
    with pytest.raises(ValidationError, match="not active"):
        secret.secret_for(1)
    assert secret.rotate().current_epoch == 4


def test_rotate_after_retiring_lower_epochs_uses_max_plus_one() -> None:
    secret = NetworkSecret.create().rotate().retire(1)
    assert secret.rotate().active_epochs == (2, 3)


def test_cannot_retire_current_epoch() -> None:
    secret = NetworkSecret.create().rotate()
    with pytest.raises(ValidationError, match="current"):
        secret.retire(2)


def test_cannot_retire_unknown_epoch() -> None:
    with pytest.raises(ValidationError, match="not active"):
        NetworkSecret.create().retire(7)


def test_epochs_cannot_be_mutated_through_the_callers_dict() -> None:
    source = {1: b"\x01" * 32}
    secret = NetworkSecret(epochs=source, current_epoch=1)
    source[1] = b"\x02" * 32
    assert secret.secret_for(1) == b"\x01" * 32
    with pytest.raises(TypeError):
        secret.epochs[2] = b"\x03" * 32  # type: ignore[index]


@pytest.mark.parametrize(
    ("epochs", "current"),
    [
        ({}, 1),
        ({1: b"\x00" * 31}, 1),
        ({0: b"\x00" * 32}, 0),
        ({1: b"\x00" * 32}, 2),
        ({True: b"\x00" * 32}, 1),
        ({1: "00" * 32}, 1),
    ],
)
def test_invalid_construction_refused(epochs: dict[Any, Any], current: int) -> None:
    with pytest.raises(ValidationError):
        NetworkSecret(epochs=epochs, current_epoch=current)


def test_repr_shows_no_secret_bytes() -> None:
    secret = NetworkSecret.create().rotate()
    text = repr(secret)
    assert "current_epoch=2" in text
    for epoch in secret.active_epochs:
        assert secret.secret_for(epoch).hex() not in text
        assert repr(secret.secret_for(epoch)) not in text


# --- export format ------------------------------------------------------------------------------


def test_export_format_is_documented_shape() -> None:
    secret = NetworkSecret(epochs={1: b"\x01" * 32, 2: b"\xab" * 32}, current_epoch=2)
    assert json.loads(secret.to_json()) == {
        "format": "crossforce-network-secret/1",
        "current_epoch": 2,
        "epochs": {"1": "01" * 32, "2": "ab" * 32},
    }


def test_json_round_trip_after_rotate_and_retire() -> None:
    secret = NetworkSecret.create().rotate().rotate().retire(2)
    again = NetworkSecret.from_json(secret.to_json())
    assert again == secret
    assert again.active_epochs == (1, 3)
    assert NetworkSecret.from_json(secret.to_json().encode()) == secret


@given(st.dictionaries(st.integers(1, 10**9), st.binary(min_size=32, max_size=32), min_size=1), st.data())
def test_json_round_trip_property(epochs: dict[int, bytes], data: st.DataObject) -> None:
    current = data.draw(st.sampled_from(sorted(epochs)))
    secret = NetworkSecret(epochs=epochs, current_epoch=current)
    assert NetworkSecret.from_json(secret.to_json()) == secret


def test_save_load_round_trip_private_mode(tmp_path: Path) -> None:
    secret = NetworkSecret.create().rotate()
    path = tmp_path / "network-secret.json"
    save_network_secret(secret, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_network_secret(path) == secret
    save_network_secret(secret.rotate(), path)
    assert load_network_secret(path).current_epoch == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_network_secret(tmp_path / "absent.json")


def test_load_error_names_path(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("[]")
    with pytest.raises(ValidationError, match=r"s\.json: expected a JSON object"):
        load_network_secret(path)


HEX_A = "a1" * 32
HEX_B = "b2" * 32
Doc = dict[str, Any]
BAD_EXPORTS: dict[str, Callable[[Doc], str]] = {
    "not_json": lambda d: '{"format": ' + HEX_A,
    "not_object": lambda d: json.dumps([d]),
    "wrong_format": lambda d: json.dumps({**d, "format": "crossforce-network-secret/2"}),
    "missing_format": lambda d: json.dumps({k: v for k, v in d.items() if k != "format"}),
    "unknown_field": lambda d: json.dumps({**d, "comment": HEX_A}),
    "current_not_held": lambda d: json.dumps({**d, "current_epoch": 9}),
    "current_is_string": lambda d: json.dumps({**d, "current_epoch": "2"}),
    "current_is_bool": lambda d: json.dumps({**d, "current_epoch": True}),
    "current_zero": lambda d: json.dumps({**d, "current_epoch": 0}),
    "no_epochs": lambda d: json.dumps({**d, "epochs": {}}),
    "epochs_list": lambda d: json.dumps({**d, "epochs": [HEX_A]}),
    "epoch_key_leading_zero": lambda d: json.dumps({**d, "epochs": {"01": HEX_A, "2": HEX_B}}),
    "epoch_key_negative": lambda d: json.dumps({**d, "epochs": {"-1": HEX_A, "2": HEX_B}}),
    "epoch_key_word": lambda d: json.dumps({**d, "epochs": {"one": HEX_A, "2": HEX_B}}),
    "short_secret": lambda d: json.dumps({**d, "epochs": {"1": HEX_A[:-2], "2": HEX_B}}),
    "long_secret": lambda d: json.dumps({**d, "epochs": {"1": HEX_A + "00", "2": HEX_B}}),
    "uppercase_hex": lambda d: json.dumps({**d, "epochs": {"1": HEX_A.upper(), "2": HEX_B}}),
    "not_hex": lambda d: json.dumps({**d, "epochs": {"1": "g" + HEX_A[1:], "2": HEX_B}}),
    "secret_is_number": lambda d: json.dumps({**d, "epochs": {"1": 5, "2": HEX_B}}),
    "duplicate_epoch": lambda d: (
        f'{{"format": "{FORMAT}", "current_epoch": 2, "epochs": {{"2": "{HEX_A}", "2": "{HEX_B}"}}}}'
    ),
    "huge_number": lambda d: '{"format": "x", "current_epoch": 1' + "0" * 5000 + "}",
    "deep_nesting": lambda d: "[" * 100_000 + "]" * 100_000,
    "not_utf8": lambda d: "\udcff",
}


@pytest.mark.parametrize("case", sorted(BAD_EXPORTS))
def test_bad_export_refused_without_echoing_secret(case: str) -> None:
    good: Doc = {"format": FORMAT, "current_epoch": 2, "epochs": {"1": HEX_A, "2": HEX_B}}
    assert NetworkSecret.from_json(json.dumps(good)).active_epochs == (1, 2)
    text = BAD_EXPORTS[case](good)
    payload: str | bytes = text.encode("utf-8", "surrogateescape") if case == "not_utf8" else text
    with pytest.raises(ValidationError) as info:
        NetworkSecret.from_json(payload)
    message = str(info.value)
    assert "a1a1a1" not in message.lower()
    assert "b2b2b2" not in message.lower()
