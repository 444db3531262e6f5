"""One exception tree: nothing escapes as a bare ValueError, and every class has one wire identity."""

from __future__ import annotations

import inspect
from pathlib import Path

import nacl.signing
import pytest

from crossforce import errors
from crossforce.crypto import envelope


def test_every_project_error_has_a_wire_identity() -> None:
    defined = {
        obj
        for _name, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.CrossforceError)
    }
    # RecordError names a line of a force's own file and travels as its parent (see WIRE_ERRORS).
    assert defined - set(errors.WIRE_ERRORS) == {errors.RecordError}
    assert len({k.__name__ for k in errors.WIRE_ERRORS}) == len(errors.WIRE_ERRORS)


@pytest.mark.parametrize("kind", errors.WIRE_ERRORS, ids=lambda k: k.__name__)
def test_a_rebuilt_error_is_the_class_that_was_named(kind: type[errors.CrossforceError]) -> None:
    status = errors.status_name_for(kind)
    rebuilt = errors.error_named(kind.__name__, "text", status=status)
    assert type(rebuilt) is kind and str(rebuilt) == "text"


def test_verification_and_validation_share_a_status_but_not_a_class() -> None:
    assert errors.status_name_for(errors.VerificationError) == errors.status_name_for(errors.ValidationError)
    assert type(errors.error_named("VerificationError", "x", status="INVALID_ARGUMENT")) is (
        errors.VerificationError
    )


def test_context_with_nul_is_a_project_error_not_a_bare_value_error() -> None:
    key = nacl.signing.SigningKey.generate()
    with pytest.raises(errors.ValidationError, match="context"):
        envelope.sign(b"crossforce/v1/x\x00y", b"payload", key)


def test_matcher_without_pki_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    from crossforce.server.app import start

    data = tmp_path / "matcher"
    with pytest.raises(errors.ValidationError, match="PKI folder is required"):
        start(data_dir=data, pki_dir=None)
    assert not data.exists()
