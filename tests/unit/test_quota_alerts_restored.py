"""``QuotaBook.restore_alerts``: alerts rebuilt from the log at start-up come before those raised since,
and the bound still keeps the newest (issue 15 finding 12: operator alerts lost on restart)."""

from __future__ import annotations

from crossforce.domain import Alert
from crossforce.server.policy.quotas import QUOTA_DENIED, QuotaBook
from crossforce.server.settings import QuotaSettings, ServerSettings


def alert(at_ms: int) -> Alert:
    return Alert(at_ms=at_ms, org="dbs", kind=QUOTA_DENIED, detail=f"refused at {at_ms}")


def test_restored_alerts_come_first_and_the_newest_are_kept() -> None:
    book = QuotaBook(QuotaSettings(max_alerts=3), ServerSettings().purposes)
    book.restore_alerts([alert(1), alert(2)])
    assert [a.at_ms for a in book.alerts()] == [1, 2]
    book.restore_alerts([alert(0)])
    assert [a.at_ms for a in book.alerts()] == [0, 1, 2]
    book.restore_alerts([alert(-2), alert(-1)])  # five for three places: the oldest go
    assert [a.at_ms for a in book.alerts()] == [0, 1, 2]
    assert [a.at_ms for a in book.drain_alerts()] == [0, 1, 2] and book.alerts() == []
