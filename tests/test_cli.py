"""The ``flightdeck`` command line, end to end on real DuckDB files."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kpis.cli import main
from tests.conftest import PROJECT_ROOT

CSV_COLUMNS = ["kpi", "force", "period_start", "numerator", "denominator", "value",
               "rolling_value", "national_value", "peer_value", "rank", "spc_mean",
               "spc_lower", "spc_upper", "spc_rule", "variation", "assurance", "suppressed"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow  # starts the installed command in a process
def test_the_console_script_is_installed_and_answers_help() -> None:
    script = Path(sys.executable).parent / "flightdeck"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kpis.cli"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True,
                            cwd=PROJECT_ROOT, check=False)
    assert result.returncode == 0
    for name in ("demo", "load", "loads", "rollback", "template", "kpis", "serve"):
        assert name in result.stdout


def test_kpis_writes_one_csv_row_per_kpi_force_and_period(
    demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["kpis", "--db", str(demo_db_readonly), "--kpi", "ho_rape_charge_rate",
                        "--kpi", "suspect_contact_30d", "--force", "kent", "--force",
                        "england-and-wales", "--from", "2024-04", "--to", "2025-03"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert set(CSV_COLUMNS) <= set(rows[0])
    # 4 quarters + 12 months, for 2 areas each.
    assert len(rows) == (4 + 12) * 2
    assert {r["force"] for r in rows} == {"kent", "england-and-wales"}
    assert min(r["period_start"] for r in rows) == "2024-04-01"
    assert max(r["period_start"] for r in rows) == "2025-03-01"
    charge = next(r for r in rows if r["kpi"] == "ho_rape_charge_rate" and r["force"] == "kent")
    # A share is a fraction: the value is the numerator over the denominator.
    assert float(charge["value"]) == pytest.approx(
        float(charge["numerator"]) / float(charge["denominator"]))
    assert 0 < float(charge["value"]) < 0.2
    assert charge["variation"] in ("common", "improvement", "concern", "neither")


@pytest.mark.slow  # the CLI over the demo database (about 1 s)
def test_kpis_spc_matches_the_dashboard_and_says_which_baseline(
    demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(demo_db_readonly), "--kpi", "suspect_contact_30d", "--force", "kent"]
    code, whole, err = run(["kpis", *db], capsys)
    assert code == 0 and "SPC limits: baseline nom (re-based at each force's NOM" in err
    code, window, _ = run(["kpis", *db, "--from", "2025-04", "--to", "2025-09"], capsys)
    spc = ("spc_mean", "spc_lower", "spc_upper", "spc_rule", "variation", "spc_limits",
           "spc_from", "spc_to", "spc_basis")
    by_period = {r["period_start"]: r for r in csv.DictReader(io.StringIO(whole))}
    cut = list(csv.DictReader(io.StringIO(window)))
    assert len(cut) == 6
    # The window's SPC is the whole series' for those months, not recomputed from 6.
    for row in cut:
        assert {k: row[k] for k in spc} == {k: by_period[row["period_start"]][k] for k in spc}
    assert {r["spc_basis"] for r in cut} == {"nom_adoption"}
    assert {r["spc_limits"] for r in cut} == {"limits"}
    # The whole-series view an analyst may want to reproduce.
    code, everything, err = run(["kpis", *db, "--baseline", "all", "--from", "2025-04"],
                                capsys)
    assert code == 0 and "baseline all (the whole series)" in err
    rows = list(csv.DictReader(io.StringIO(everything)))
    assert {r["spc_basis"] for r in rows} == {"whole_series"}
    assert {r["spc_from"] for r in rows} == {min(by_period)}
    assert rows[0]["spc_mean"] != cut[0]["spc_mean"]
    with pytest.raises(SystemExit):
        main(["kpis", *db, "--baseline", "first:3"])
    assert "first:N with N of 15 or more" in capsys.readouterr().err


def test_kpis_takes_several_ids_after_one_flag_or_a_repeated_flag(
    demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(demo_db_readonly), "--from", "2025-01", "--to", "2025-03"]
    code, together, _ = run(["kpis", *db, "--kpi", "cps_referrals", "suspect_contact_30d",
                             "--force", "kent", "durham"], capsys)
    assert code == 0
    code, repeated, _ = run(["kpis", *db, "--kpi", "cps_referrals", "--kpi",
                             "suspect_contact_30d", "--force", "kent", "--force", "durham"],
                            capsys)
    assert code == 0
    assert together == repeated
    rows = list(csv.DictReader(io.StringIO(together)))
    # 2 monthly KPIs x 2 forces x 3 months.
    assert len(rows) == 2 * 2 * 3
    assert {(r["kpi"], r["force"]) for r in rows} == {
        (k, f) for k in ("cps_referrals", "suspect_contact_30d") for f in ("kent", "durham")}


def test_kpis_as_json_matches_the_csv(demo_db_readonly: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ["kpis", "--db", str(demo_db_readonly), "--kpi", "isva_referral_share", "--force",
            "durham", "--from", "2025-01", "--to", "2025-03"]
    _, as_csv, _ = run(args, capsys)
    code, as_json, _ = run([*args, "--format", "json"], capsys)
    assert code == 0
    records = json.loads(as_json)
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert len(records) == len(rows) == 3
    for record, row in zip(records, rows, strict=True):
        assert record["period_start"] == row["period_start"]
        assert record["value"] == pytest.approx(float(row["value"]))


def test_kpis_with_suppress_leaves_small_counts_empty_and_marked(
    demo_db_readonly: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["kpis", "--db", str(demo_db_readonly), "--kpi", "s63g_granted_share",
                        "--suppress"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    hidden = [r for r in rows if r["suppressed"].lower() == "true"]
    assert hidden, "the demo has small s63G counts to suppress"
    for row in hidden:
        assert row["numerator"] == "" or float(row["numerator"]) == 0 or float(
            row["numerator"]) >= 5
        assert row["value"] == ""
    for row in rows:
        for column in ("numerator", "denominator"):
            if row[column]:
                assert not 1 <= float(row[column]) <= 4


def test_kpis_with_an_unknown_kpi_fails_clearly(demo_db_readonly: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["kpis", "--db", str(demo_db_readonly), "--kpi", "nonsense"], capsys)
    assert code == 2
    assert "nonsense" in err


@pytest.mark.slow  # loads and a rollback (over a second)
def test_load_then_loads_then_rollback_restores_the_previous_value(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resubmission = tmp_path / "kent_resubmission.csv"
    resubmission.write_text("force,month,measure,value\nkent,2025-09,rape_reports,999\n",
                            encoding="utf-8")

    def kent_reports() -> float:
        _, out, _ = run(["kpis", "--db", str(demo_db), "--kpi", "isva_referral_share",
                         "--force", "kent", "--from", "2025-09", "--to", "2025-09"], capsys)
        return float(next(csv.DictReader(io.StringIO(out)))["denominator"])

    before = kent_reports()
    code, out, _ = run(["load", "--db", str(demo_db), str(resubmission)], capsys)
    assert code == 0 and "loaded 1 file" in out
    assert kent_reports() == 999
    code, out, _ = run(["loads", "--db", str(demo_db)], capsys)
    assert "kent_resubmission.csv" in out
    load_id = int(out.strip().splitlines()[-1].split()[0])
    code, out, _ = run(["rollback", "--db", str(demo_db), str(load_id)], capsys)
    assert code == 0
    assert kent_reports() == before


def test_a_refused_load_exits_non_zero_and_names_the_problem(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("force,month,measure,value\nkent,2025-09,rape_reports,-3\n", encoding="utf-8")
    before = demo_db.read_bytes()
    code, _, err = run(["load", "--db", str(demo_db), str(bad)], capsys)
    assert code == 1
    assert "bad.csv, row 2, column 'value': value '-3': negative values are not allowed" in err
    assert demo_db.read_bytes() == before


@pytest.mark.slow  # about a second
def test_loading_into_a_new_path_creates_forces_and_catalogue_but_no_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new" / "flightdeck.duckdb"
    db.parent.mkdir()
    data = tmp_path / "one.csv"
    data.write_text("force,month,measure,value\ndurham,2025-08,rape_reports,40\n",
                    encoding="utf-8")
    assert run(["load", "--db", str(db), str(data)], capsys)[0] == 0
    code, out, _ = run(["kpis", "--db", str(db), "--kpi", "ho_rape_charge_rate"], capsys)
    assert code == 0
    assert len(list(csv.DictReader(io.StringIO(out)))) == 0


def test_template_writes_a_blank_wide_return(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "kent.csv"
    code, _, _ = run(["template", "--force", "kent", "--from", "2025-07", "--to", "2025-09",
                      "--out", str(out_file)], capsys)
    assert code == 0
    rows = list(csv.reader(out_file.open(encoding="utf-8")))
    assert rows[0][:2] == ["force", "month"]
    assert "rape_reports" in rows[0]
    assert [r[1] for r in rows[2:]] == ["2025-07", "2025-08", "2025-09"]


def test_catalogue_check_reports_a_bad_file_and_load_installs_a_good_one(
    empty_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "catalogue.yaml"
    shutil.copyfile(PROJECT_ROOT / "data" / "catalogue.yaml", good)
    code, out, _ = run(["catalogue", "check", "--file", str(good)], capsys)
    assert code == 0 and "valid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("\n    polarity: higher\n",
                                            "\n    polarity: upwards\n", 1))
    code, _, err = run(["catalogue", "check", "--file", str(bad)], capsys)
    assert code == 1 and "'upwards'" in err
    code, out, _ = run(["catalogue", "load", "--db", str(empty_db), "--file", str(good)], capsys)
    assert code == 0 and "loaded" in out
    code, _, err = run(["catalogue", "check", "--file", str(tmp_path / "missing.yaml")], capsys)
    assert code == 1 and "missing.yaml" in err and "not found" in err


def test_peer_groups_command_adds_a_group_usable_as_an_area(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = tmp_path / "msg.csv"
    groups.write_text("group,force\nShire forces,kent\nShire forces,essex\n"
                      "Shire forces,surrey\n", encoding="utf-8")
    assert run(["peer-groups", "--db", str(demo_db), str(groups)], capsys)[0] == 0
    code, out, _ = run(["kpis", "--db", str(demo_db), "--kpi", "ho_rape_recorded", "--force",
                        "group-shire-forces", "--from", "2025-04", "--to", "2025-04"], capsys)
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    _, kent, _ = run(["kpis", "--db", str(demo_db), "--kpi", "ho_rape_recorded", "--force",
                      "kent", "--force", "essex", "--force", "surrey", "--from", "2025-04",
                      "--to", "2025-04"], capsys)
    parts = [float(r["numerator"]) for r in csv.DictReader(io.StringIO(kent))]
    assert float(row["numerator"]) == sum(parts)
