"""Chart downloads under disclosure control: the attacks of the disclosure audit, made
through the download route as a user would, on the demonstration data.

A download marked OFFICIAL (or asked for with ``suppress=1``) is publishable: no count
of 1 to 4 in it, nothing that gives one back by subtraction (a rolling year minus its
shown months, a rank gap), the same for all four charts. Marked OFFICIAL-SENSITIVE (the
default) it keeps every figure, small ones included: that is what makes these tests
able to fail.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flask.testing import FlaskClient

from kpis.domain.vocabulary import SUPPRESSED_LABEL
from kpis.engine.disclosure import suppression_required
from tests.conftest import app_over
from tests.test_downloads import read_csv, xlsx_notes

COUNT = "s63g_applications"  # a monthly count with many small figures in the demo
SHARE = "order_breaches_actioned"  # a share whose counts are often small
PERIOD = "2025-08"  # September's national figure is incomplete: no ranks then


@pytest.fixture(scope="module")
def client(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[FlaskClient]:
    from web.context import SERVICE_KEY

    db = tmp_path_factory.mktemp("downloads-disclosure") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    dash_app = app_over(db)
    yield dash_app.server.test_client()
    dash_app.server.config[SERVICE_KEY].close()


def csv_of(client: FlaskClient, path: str) -> tuple[dict[str, str], pd.DataFrame]:
    """The download's rows (plain CSV), and the Notes of the same download as XLSX."""
    response = client.get(path)
    assert response.status_code == 200, response.data[:300]
    rows = read_csv(response.data.decode("utf-8"))
    workbook = client.get(path.replace(".csv?", ".xlsx?"))
    assert workbook.status_code == 200, workbook.data[:300]
    return xlsx_notes(workbook.data), pd.DataFrame(rows)


def numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.replace({SUPPRESSED_LABEL: None, "": None}))


def small(column: pd.Series) -> pd.Series:
    values = numbers(column)
    return (values > 0) & (values < 5)


def test_the_marking_decides_when_disclosure_control_is_required():
    assert not suppression_required("OFFICIAL-SENSITIVE")
    assert not suppression_required("official-sensitive personal")
    assert not suppression_required("SECRET")
    assert suppression_required("OFFICIAL")
    assert suppression_required("PUBLIC")
    assert suppression_required("OFFICIAL SENSITIVE")  # not the marking: the safe side
    assert suppression_required("OFFICIAL-SENSITIVE", asked=True)
    assert not suppression_required(None)  # a page on screen
    # Home Office open data is published already: nothing to suppress, whatever the
    # marking (and the engine hides none of it).
    assert not suppression_required("OFFICIAL", open_data=True)
    assert not suppression_required("PUBLIC", asked=True, open_data=True)


@pytest.mark.parametrize("ask", ["marking=OFFICIAL", "suppress=1"])
def test_a_publishable_trend_csv_has_no_small_count_and_no_year_minus_months(
        client: FlaskClient, ask: str) -> None:
    path = f"/download/chart/trend/{COUNT}.csv?force=kent&period={PERIOD}"
    _, whole = csv_of(client, path)
    assert small(whole["numerator"]).any(), "the demo's Kent has small counts"
    notes, rows = csv_of(client, f"{path}&{ask}")
    assert "suppressed" in notes["Subtitle"]
    assert notes["Disclosure control"].startswith("Applied")
    for column in ("numerator", "value", "rolling_value"):
        assert not small(rows[column]).any(), column
    assert (rows["numerator"] == SUPPRESSED_LABEL).any()
    # Every rolling year shown is twelve shown months: subtracting them gives nothing.
    for area, series in rows.groupby("area"):
        months = numbers(series["numerator"]).to_numpy()
        years = numbers(series["rolling_value"]).to_numpy()
        for i, year in enumerate(years):
            if pd.notna(year):
                window = months[i - 11:i + 1]
                assert i >= 11 and pd.notna(window).all(), (area, i)
                assert window.sum() == pytest.approx(year)
    # Rows that are shown agree with the whole figures.
    shown = rows["numerator"] != SUPPRESSED_LABEL
    assert (rows.loc[shown, "numerator"] == whole.loc[shown, "numerator"]).all()


def test_a_publishable_compare_csv_ranks_only_the_forces_shown(client: FlaskClient) -> None:
    path = f"/download/chart/compare/{COUNT}.csv?force=kent&period={PERIOD}"
    _, whole = csv_of(client, path)
    assert small(whole["count"]).any()
    notes, rows = csv_of(client, f"{path}&marking=OFFICIAL")
    assert not small(rows["count"]).any()
    assert 0 < len(rows) < len(whole)
    # No gap for a hidden force to sit in: each rank is one more than the number of
    # forces shown with a better figure (per 100,000 people).
    ranks = numbers(rows["rank"])
    better = [(numbers(rows["value"]) > v).sum() for v in numbers(rows["value"])]
    assert list(ranks) == [b + 1 for b in better]
    assert "withheld by disclosure control" in notes["Subtitle"]
    assert set(rows["marking"]) == {"OFFICIAL"}


def test_a_publishable_funnel_csv_leaves_out_the_forces_withheld(client: FlaskClient) -> None:
    path = f"/download/chart/funnel/{SHARE}.csv?force=kent&period={PERIOD}"
    _, whole = csv_of(client, path)
    assert (small(whole["numerator"]) | small(whole["denominator"])).any()
    notes, rows = csv_of(client, f"{path}&suppress=1")
    assert not (small(rows["numerator"]) | small(rows["denominator"])).any()
    withheld = len(whole) - len(rows)
    assert withheld > 0
    assert f"{withheld} forces withheld" in notes["Subtitle"]
    assert set(rows["area"]) < set(whole["area"])


def test_a_publishable_spc_csv_withholds_the_lines_of_a_series_with_a_hidden_point(
        client: FlaskClient) -> None:
    path = f"/download/chart/spc/{COUNT}.csv?force=kent&period={PERIOD}"
    _, whole = csv_of(client, path)
    assert numbers(whole["spc_mean"]).notna().any()
    _, rows = csv_of(client, f"{path}&marking=OFFICIAL")
    assert (rows["numerator"] == SUPPRESSED_LABEL).any()
    assert (rows["spc_mean"] == SUPPRESSED_LABEL).all()
    assert (rows["variation"] == SUPPRESSED_LABEL).all()


def test_suppress_takes_one_or_zero(client: FlaskClient) -> None:
    response = client.get(f"/download/chart/spc/{COUNT}.csv?force=kent&period={PERIOD}"
                          "&suppress=yes")
    assert response.status_code == 400
    assert b"suppress must be 1" in response.data


def test_a_pack_marked_official_is_suppressed_whatever_was_asked(
        demo_db_readonly: Path, tmp_path: Path) -> None:
    from docx import Document

    from kpis.exports.packs import build_pack
    from kpis.service import FlightDeckService

    service = FlightDeckService(demo_db_readonly)
    try:
        out = build_pack(service, "kent", dt.date(2025, 8, 1), "docx",
                         kpis=[COUNT], marking="OFFICIAL", out=tmp_path / "pack.docx")
    finally:
        service.close()
    text = "\n".join(p.text for p in Document(str(out)).paragraphs)
    cells = [c.text for t in Document(str(out)).tables for r in t.rows for c in r.cells]
    assert "Disclosure control" in text
    assert SUPPRESSED_LABEL in cells
