"""The return template from the catalogue in force: blank or pre-filled with a force's
stored values, from the command line and the upload page's download route."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from kpis.domain.access import Principal, Role
from kpis.ingest.template import prefill_values
from kpis.service import FlightDeckService
from kpis.storage import schema
from kpis.storage.backend import open_store
from tests.conftest import app_over
from tests.test_security import BASE, signed_in

ADMIN = Principal("admin", Role.ADMIN)


def test_prefill_keeps_loaded_months_and_starts_new_ones_from_the_latest() -> None:
    aug, sep, oct_, nov = (dt.date(2025, m, 1) for m in (8, 9, 10, 11))
    stored = [(aug, "a", 5.0), (sep, "a", 7.0), (aug, "b", 2.0), (sep, "b", 3.5)]
    # September is loaded: its own values. October and November are not: they start
    # from September's (the latest before them).
    assert prefill_values(stored, sep, nov) == {
        (sep, "a"): 7.0, (sep, "b"): 3.5, (oct_, "a"): 7.0, (oct_, "b"): 3.5,
        (nov, "a"): 7.0, (nov, "b"): 3.5}
    assert prefill_values(stored, aug, aug) == {(aug, "a"): 5.0, (aug, "b"): 2.0}


def stored_values(db: Path, force: str, month: dt.date) -> dict[str, float]:
    obs = schema.observations
    with open_store(db).connect() as conn:
        return {r.measure_id: r.value for r in conn.execute(
            sa.select(obs.c.measure_id, obs.c.value).where(
                obs.c.force_slug == force, obs.c.period_start == month))}


def test_a_prefilled_template_holds_the_forces_values_and_is_audited(demo_db: Path) -> None:
    service = FlightDeckService(demo_db, ADMIN)
    september = stored_values(demo_db, "kent", dt.date(2025, 9, 1))
    body = service.return_template("kent", dt.date(2025, 9, 1), dt.date(2025, 10, 1), "csv",
                                   prefill=True)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    header, sep, oct_ = rows[0], rows[2], rows[3]
    assert sep[:2] == ["kent", "2025-09"] and oct_[:2] == ["kent", "2025-10"]
    for measure, cell in zip(header[2:], sep[2:], strict=True):
        if measure in september:
            assert float(cell) == pytest.approx(september[measure]), measure
            assert float(oct_[header.index(measure)]) == pytest.approx(september[measure])
    blank = service.return_template("kent", dt.date(2025, 10, 1), dt.date(2025, 10, 1),
                                    "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(blank)).active
    assert [c.value for c in sheet[3][2:]] == [None] * (len(header) - 2)
    with pytest.raises(PermissionError):
        service.for_principal(Principal("kent-analyst", Role.ANALYST, "kent")).return_template(
            "essex", dt.date(2025, 9, 1), dt.date(2025, 9, 1), "csv")
    service.close()


@pytest.fixture
def secured_app(secured_db: Path):  # type: ignore[no-untyped-def]
    return app_over(secured_db)


def test_the_upload_pages_template_route(secured_app, secured_db: Path) -> None:  # type: ignore[no-untyped-def]
    kent = signed_in(secured_app, "kent-analyst")
    answer = kent.get(f"{BASE}/download/return-template?force=kent&from=2025-09&to=2025-09"
                      "&format=xlsx&prefill=1")
    assert answer.status_code == 200
    assert 'filename="return-kent-2025-09-to-2025-09-prefilled.xlsx"' in \
        answer.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    header = [c.value for c in sheet[1]]
    september = stored_values(secured_db, "kent", dt.date(2025, 9, 1))
    measure = next(m for m in header[2:] if m in september)
    assert sheet.cell(3, header.index(measure) + 1).value == pytest.approx(september[measure])
    # Another force's template is refused to a Kent account; bad input is a 400.
    assert kent.get(f"{BASE}/download/return-template?force=essex&from=2025-09&to=2025-09"
                    "&format=xlsx").status_code == 403
    for query in ("force=kent&from=2025-13&to=2025-09", "force=kent&from=2025-09&to=2025-08",
                  "force=kent&from=2024-01&to=2025-09", "force=kent&from=2025-09&to=2025-09"
                  "&format=exe", "force=kent&from=2025-09&to=2025-09&prefill=yes"):
        assert kent.get(f"{BASE}/download/return-template?{query}").status_code == 400, query
    viewer = signed_in(secured_app, "viewer")
    assert viewer.get(f"{BASE}/download/return-template?force=kent&from=2025-09&to=2025-09"
                      "&format=csv").status_code == 403
