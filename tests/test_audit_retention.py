"""The audit log's retention: ``flightdeck audit --prune`` deletes what is older than
the retention period, and records that it did, on both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.domain.events import AUDIT_PRUNED, SIGN_IN
from kpis.storage.security import SecurityStore, security_db_path
from tests.backends import empty_db_on_both  # noqa: F401 (fixtures: both backends)


def test_prune_deletes_only_events_older_than_the_retention_period(
    empty_db: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SecurityStore(security_db_path(empty_db))
    now = dt.datetime.now().replace(microsecond=0)
    for age in (400, 91, 89, 1):  # days old
        store.record(SIGN_IN, f"user-{age}", at=now - dt.timedelta(days=age))
    store.close()
    assert main(["audit", "--db", str(empty_db), "--prune", "--days", "90"]) == 0
    assert "deleted 2 audit events" in capsys.readouterr().out
    store = SecurityStore(security_db_path(empty_db))
    kept = sorted(e.username for e in store.events(event=SIGN_IN))
    pruned = store.events(event=AUDIT_PRUNED)
    store.close()
    assert kept == ["user-1", "user-89"]
    assert len(pruned) == 1 and pruned[0].detail.startswith("2 events before ")


def test_prune_without_a_retention_period_refuses_and_deletes_nothing(
    empty_db: Path | str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLIGHTDECK_AUDIT_RETENTION_DAYS", raising=False)
    store = SecurityStore(security_db_path(empty_db))
    store.record(SIGN_IN, "old", at=dt.datetime(2020, 1, 1))
    store.close()
    assert main(["audit", "--db", str(empty_db), "--prune"]) == 2
    assert "no retention period" in capsys.readouterr().err
    store = SecurityStore(security_db_path(empty_db))
    assert [e.username for e in store.events()] == ["old"]
    store.close()
