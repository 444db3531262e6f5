"""Issue 15 item 3: one organisation retired the whole network's epoch with two junk publishes.

A force published under epoch N+1 and then N+2 (secrets it made up): the matcher, which retired epochs
from what forces published, retired epoch N, so every check failed, across restarts, until someone edited
the database. Epochs are now operator acts (``crossforce epoch activate``/``retire``, logged): a publish
under an epoch the operator never activated, or has retired, is refused with FAILED_PRECONDITION and
changes nothing. Against a real matcher (LocalNet: real certificates, mTLS and storage), on each backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from crossforce.client.publishing import build_index
from crossforce.domain import PublishReceipt, Role
from crossforce.encoding.records import Record
from crossforce.errors import PreconditionError
from crossforce.testkit.localnet import FORCE_ROLES, VETTING_ROLES, LocalNet
from tests.integration.conftest import WHY

JANE = Record(record_id="HUM-001", given_names="Jane", surname="Thornbury", date_of_birth="1984-03-17")
JUNK = [Record(record_id="J1", given_names="Junk", surname="Entry", date_of_birth="2000-01-01")]
HOLDER = "humberside"
ATTACKER = "kent"


@pytest.fixture
def net(tmp_path: Path, matcher_db: str | None) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, db=matcher_db)
    net.start_server()
    net.add_org(HOLDER, roles=FORCE_ROLES)
    net.add_org(ATTACKER, roles=FORCE_ROLES)
    net.add_org("dbs", roles=VETTING_ROLES)
    net.register_all()
    try:
        yield net
    finally:
        net.stop_server()


def publish(net: LocalNet, org: str, records: Sequence[Record], *, epoch: int) -> PublishReceipt:
    """Publish under ``epoch`` with whatever secret ``org``'s profile holds for it."""
    with net.client(org, Role.FORCE_SYSTEM) as c:
        built = build_index(c.encode_records(records, epoch=epoch))
        return c.publish_index(
            built, epoch=epoch, token_count=built.token_count, record_count=len(records), expires_in_days=30
        )


def hits_on_jane(net: LocalNet) -> list[str]:
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        return [h.org for h in c.check(JANE, WHY, open_requests=False).hits]


def invent_epochs(net: LocalNet, org: str, how_many: int) -> None:
    """``org`` makes up secrets for epochs nobody else has (no operator act, no distribution)."""
    secret = net.profiles[org].secret()
    for _ in range(how_many):
        secret = secret.rotate()
    net.profiles[org].save_secret(secret)


def test_junk_publishes_under_future_epochs_cannot_retire_the_network_epoch(net: LocalNet) -> None:
    publish(net, HOLDER, [JANE], epoch=1)
    publish(net, ATTACKER, JUNK, epoch=1)
    assert hits_on_jane(net) == [HOLDER]
    invent_epochs(net, ATTACKER, 2)
    for epoch in (2, 3):
        with pytest.raises(PreconditionError, match=rf"epoch {epoch} .*not been activated"):
            publish(net, ATTACKER, JUNK, epoch=epoch)
    assert hits_on_jane(net) == [HOLDER]  # checks keep answering under epoch 1
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        assert c.status().active_epochs == (1,)
        assert {(s.org, s.epoch) for s in c.status().indexes} == {(HOLDER, 1), (ATTACKER, 1)}
    net.stop_server()
    net.start_server()
    assert hits_on_jane(net) == [HOLDER]  # and after a restart


def test_publish_under_a_retired_epoch_is_refused(net: LocalNet) -> None:
    publish(net, HOLDER, [JANE], epoch=1)
    publish(net, ATTACKER, JUNK, epoch=1)
    net.rotate_secret()  # the operator distributes epoch 2 and activates it
    publish(net, HOLDER, [JANE], epoch=2)
    publish(net, ATTACKER, JUNK, epoch=2)
    net.retire_epoch(1)  # every force has moved: the operator retires epoch 1
    with pytest.raises(PreconditionError, match="epoch 1 was retired"):
        publish(net, ATTACKER, JUNK, epoch=1)
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        assert c.status().active_epochs == (2,)
        assert {(s.org, s.epoch) for s in c.status().indexes} == {(HOLDER, 2), (ATTACKER, 2)}
    assert hits_on_jane(net) == [HOLDER]


def test_publish_under_an_epoch_never_activated_is_refused(net: LocalNet) -> None:
    publish(net, HOLDER, [JANE], epoch=1)
    invent_epochs(net, ATTACKER, 1)
    with pytest.raises(PreconditionError, match=r"epoch 2 .*not been activated"):
        publish(net, ATTACKER, JUNK, epoch=2)
    with net.client("dbs", Role.VETTING_OFFICER) as c:
        assert c.status().active_epochs == (1,)
        assert [(s.org, s.epoch) for s in c.status().indexes] == [(HOLDER, 1)]
