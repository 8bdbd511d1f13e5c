"""``flightdeck kpis`` sends data out, so it is audited: who, when and what it sent
(kpis.background_audit). The row is written before anything is sent; a row that
cannot be written stops the export; a run that sends nothing (an unknown KPI) writes
none. Run as a new process (where the row is written by a forked child) and in this
test's process (where it is written in the same process)."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kpis.cli import main
from kpis.domain.events import EXPORT
from kpis.storage.security import SecurityStore

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = f"{getpass.getuser()} (command line)"
# One KPI, one force, a financial year, marked and controlled as asked.
ASKED = ["--kpi", "isva_referral_share", "--force", "kent", "--from", "2024-04", "--to",
         "2025-03", "--marking", "OFFICIAL-SENSITIVE", "--suppress"]


def scope(out: Path | str) -> str:
    return (f"KPI table (csv) to {out}: KPIs isva_referral_share; areas kent; periods "
            "2024-04 to 2025-03; OFFICIAL-SENSITIVE, disclosure control applied")


def exports(log: Path) -> list[tuple[str, str, str]]:
    if not log.exists():
        return []
    store = SecurityStore(log)
    try:
        return [(e.event, e.username, e.detail) for e in store.events(event=EXPORT)]
    finally:
        store.close()


def new_process(args: list[str], log: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLIGHTDECK_SECURITY_DB": str(log)}
    return subprocess.run([sys.executable, "-m", "kpis.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow  # new processes
def test_kpis_in_a_new_process_is_audited_with_what_it_sent(
        demo_db_readonly: Path, tmp_path: Path) -> None:
    log, out = tmp_path / "audit.duckdb", tmp_path / "kent.csv"
    before = dt.datetime.now() - dt.timedelta(seconds=1)
    done = new_process(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(out)],
                       log)
    assert done.returncode == 0, done.stderr
    # 12 months of one KPI for one force: a header and twelve rows.
    assert len(out.read_text(encoding="utf-8").splitlines()) == 13
    assert exports(log) == [(EXPORT, OPERATOR, scope(out))]
    event = SecurityStore(log).events(event=EXPORT)[0]
    assert before <= event.occurred_at <= dt.datetime.now()
    # To standard output: audited too, named so.
    done = new_process(["kpis", "--db", str(demo_db_readonly), *ASKED], log)
    assert done.returncode == 0 and done.stdout.count("\n") == 13, done.stderr
    assert exports(log)[0] == (EXPORT, OPERATOR, scope("standard output"))


@pytest.mark.slow  # new processes
def test_kpis_that_sends_nothing_writes_no_row_and_one_it_cannot_audit_sends_nothing(
        demo_db_readonly: Path, tmp_path: Path) -> None:
    log, out = tmp_path / "audit.duckdb", tmp_path / "kent.csv"
    done = new_process(["kpis", "--db", str(demo_db_readonly), "--kpi", "nonsense",
                        "--out", str(out)], log)
    assert done.returncode == 2 and "nonsense" in done.stderr
    assert exports(log) == [] and not out.exists()
    # An audit log that cannot be written (its folder is a file): nothing is sent.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    done = new_process(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(out)],
                       blocked / "audit.duckdb")
    assert done.returncode == 1
    assert "the export was not audited" in done.stderr and not out.exists()
    assert done.stdout == ""
    # A file already there is left as it was: not emptied, not written.
    out.write_bytes(b"an earlier export\n")
    done = new_process(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(out)],
                       blocked / "audit.duckdb")
    assert done.returncode == 1 and out.read_bytes() == b"an earlier export\n"


def test_kpis_in_this_process_is_audited_the_same_way(
        demo_db_readonly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log, out = tmp_path / "audit.duckdb", tmp_path / "kent.csv"
    monkeypatch.setenv("FLIGHTDECK_SECURITY_DB", str(log))
    assert main(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(out)]) == 0
    assert exports(log) == [(EXPORT, OPERATOR, scope(out))]
    assert main(["kpis", "--db", str(demo_db_readonly), "--kpi", "nonsense"]) == 2
    assert len(exports(log)) == 1
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_SECURITY_DB", str(blocked / "audit.duckdb"))
    capsys.readouterr()
    out.unlink()
    assert main(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(out)]) == 1
    assert "the export was not audited" in capsys.readouterr().err and not out.exists()


CHILD_CHECK = """
import os, sys
from kpis.background_audit import BackgroundAudit
audit = BackgroundAudit(sys.argv[1], "export", "tester")
try:
    waiting = os.waitpid(-1, os.WNOHANG) == (0, 0)  # a child, still at work
except ChildProcessError:
    waiting = False  # no child: the row would be written in this process
audit.confirm("one row")
print(waiting, audit.finish())
"""


@pytest.mark.slow  # a new process
def test_in_a_new_process_the_row_is_written_by_a_child(tmp_path: Path) -> None:
    log = tmp_path / "audit.duckdb"
    done = subprocess.run([sys.executable, "-c", CHILD_CHECK, str(tmp_path / "x.duckdb")],
                          cwd=ROOT, env={**os.environ, "FLIGHTDECK_SECURITY_DB": str(log)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
    assert exports(log) == [(EXPORT, "tester", "one row")]


# flightdeck chart and flightdeck export: the file is made privately, and goes to --out
# only once its audit row (what, for whom, marking and disclosure control, where) is
# written; a row that cannot be written sends nothing.
CHART = ["chart", "--kpi", "suspect_contact_30d", "--force", "kent", "--period", "2025-09",
         "--format", "csv", "--marking", "OFFICIAL", "--suppress"]


def test_a_chart_is_audited_before_it_is_written_and_not_written_unaudited(
        demo_db_readonly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log, out = tmp_path / "audit.duckdb", tmp_path / "kent.csv"
    monkeypatch.setenv("FLIGHTDECK_SECURITY_DB", str(log))
    # This test's own temporary folder: another test's export may be at work meanwhile.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert main([*CHART, "--db", str(demo_db_readonly), "--out", str(out)]) == 0
    assert exports(log) == [(EXPORT, OPERATOR, (
        f"SPC chart (csv) of suspect_contact_30d to {out}: kent, 2025-09; OFFICIAL, "
        "disclosure control applied"))]
    # April 2019 to September 2025: a header and 78 months.
    assert len(out.read_text(encoding="utf-8").splitlines()) == 79
    # An unknown KPI: nothing sent, nothing audited.
    assert main([*CHART[:2], "nope", *CHART[3:], "--db", str(demo_db_readonly), "--out",
                 str(tmp_path / "nope.csv")]) == 2
    assert len(exports(log)) == 1 and not (tmp_path / "nope.csv").exists()
    # A folder that is not there: said at once, nothing audited (nor for kpis).
    capsys.readouterr()
    nowhere = tmp_path / "no-such-folder" / "kent.csv"
    assert main([*CHART, "--db", str(demo_db_readonly), "--out", str(nowhere)]) == 2
    assert f"there is no folder {nowhere.parent}" in capsys.readouterr().err
    assert main(["kpis", "--db", str(demo_db_readonly), *ASKED, "--out", str(nowhere)]) == 2
    assert f"there is no folder {nowhere.parent}" in capsys.readouterr().err
    assert len(exports(log)) == 1
    # An audit log that cannot be written: the file already there is left as it was.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_SECURITY_DB", str(blocked / "audit.duckdb"))
    out.write_bytes(b"an earlier export\n")
    capsys.readouterr()
    assert main([*CHART, "--db", str(demo_db_readonly), "--out", str(out)]) == 1
    assert "the export was not audited" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier export\n"
    assert main([*CHART, "--db", str(demo_db_readonly), "--out",
                 str(tmp_path / "new.csv")]) == 1
    assert not (tmp_path / "new.csv").exists()
    # Nothing is left in the temporary folder either way.
    assert list(scratch.iterdir()) == []


@pytest.mark.slow  # a board pack (native PowerPoint charts: no browser)
def test_a_board_pack_from_the_command_line_is_audited_with_its_scope(
        demo_db_readonly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log, out = tmp_path / "audit.duckdb", tmp_path / "kent.pptx"
    monkeypatch.setenv("FLIGHTDECK_SECURITY_DB", str(log))
    assert main(["export", "--db", str(demo_db_readonly), "--force", "kent", "--period",
                 "2025-09", "--format", "pptx", "--pillar", "6", "--marking", "OFFICIAL",
                 "--out", str(out)]) == 0
    assert exports(log) == [(EXPORT, OPERATOR, (
        f"board pack (pptx) to {out}: kent, 2025-09; pillars 6; KPIs all published; "
        "OFFICIAL, disclosure control applied"))]
    assert out.read_bytes()[:2] == b"PK"  # a PowerPoint file (a zip)
