"""Home Office open data: crime outcomes tables and police force area recorded crime.

Both come one row per force, financial quarter and offence code (and, for outcomes,
outcome type). Header wording, year and quarter notation and force names vary
between releases; all are matched loosely. Rows for bodies that are not territorial
forces are ignored and counted. Validation is vectorised: these files run to a
million rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpis.ingest.context import IngestContext
from kpis.ingest.problems import Report
from kpis.ingest.tables import FORMULA_PREFIXES, Table, normalise_header
from kpis.reference import NON_TERRITORIAL, normalise_name

RAPE_CODES = ("19C", "19D", "19E", "19F", "19G", "19H")
OTHER_SEXUAL_OFFENCE_CODES = (
    "17A", "17B", "20A", "20B", "21", "22A", "22B", "23", "70", "71", "72", "73",
    "88A", "88C", "88D", "88E",
)
OUTCOME_TYPES = range(0, 23)

# Which column is which, by normalised header.
_COMMON = {
    "year": ("financialyear",),
    "quarter": ("financialquarter",),
    "force": ("forcename",),
    "code": ("offencecode",),
}


def _find(keys: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if candidate in keys:
            return keys[candidate]
    return None


def _count_column(keys: dict[str, str], basis: str) -> str | None:
    """The outcomes count column for ``basis`` 'recorded' or 'closed', in any wording."""
    for key, header in keys.items():
        if basis in key and "outcome" in key:
            return header
    return None


def is_ho_outcomes(header: list[str]) -> bool:
    keys = {normalise_header(h): h for h in header}
    return "outcometype" in keys and _count_column(keys, "recorded") is not None


def is_ho_recorded(header: list[str]) -> bool:
    keys = {normalise_header(h) for h in header}
    return "numberofoffences" in keys and "forcename" in keys


def _locate(table: Table, report: Report, extra: dict[str, str | None]) -> dict[str, str] | None:
    keys = {normalise_header(h): h for h in table.header}
    columns: dict[str, str | None] = {k: _find(keys, v) for k, v in _COMMON.items()}
    columns.update(extra)
    missing = [name for name, header in columns.items() if header is None]
    if missing:
        labels = {
            "year": "Financial Year", "quarter": "Financial Quarter", "force": "Force Name",
            "code": "Offence Code", "outcome": "Outcome Type",
            "recorded": "outcomes for offences recorded in the quarter",
            "closed": "outcomes for investigations closed in the quarter",
            "offences": "Number of Offences",
        }
        report.error(table.file, 1, None, ", ".join(labels[m] for m in missing),
                     "missing required column(s)")
        return None
    return {k: v for k, v in columns.items() if v is not None}


def _errors_for(report: Report, table: Table, mask: pd.Series, column: str, rule: str) -> None:
    if not mask.any():
        return
    values = table.frame[column]
    for row in mask[mask].index:
        report.error(table.file, int(row), column, values.at[row], rule)


def _common(table: Table, cols: dict[str, str], ctx: IngestContext,
            report: Report) -> pd.DataFrame | None:
    """Validate year, quarter, force and offence code; keep territorial sexual-offence rows."""
    frame = table.frame
    text = {k: frame[c].astype(str).str.strip() for k, c in cols.items()}
    for key, column in cols.items():
        formula = text[key].str.startswith(FORMULA_PREFIXES) & ~text[key].str.fullmatch(
            r"-?\d+(\.\d+)?"
        )
        _errors_for(report, table, formula, column,
                    "text starting with '=', '+', '-' or '@' is refused (formula injection)")

    force_names = text["force"]
    unique = pd.Series(force_names.unique())
    normalised = {name: normalise_name(name) for name in unique}
    non_territorial = force_names.map(
        lambda n: any(normalise_name(x) in normalised[n] for x in NON_TERRITORIAL)
    )
    if non_territorial.any():
        report.ignore("for bodies that are not territorial forces", int(non_territorial.sum()))
    slugs = force_names.map(lambda n: ctx.aliases.get(normalised[n]))
    slugs = slugs.where(slugs.isin(ctx.force_slugs))
    _errors_for(report, table, slugs.isna() & ~non_territorial, cols["force"], "unknown force")

    code = text["code"].str.upper()
    rape = code.isin(RAPE_CODES)
    oso = code.isin(OTHER_SEXUAL_OFFENCE_CODES)
    other_offence = ~(rape | oso) & ~non_territorial
    if other_offence.any():
        report.ignore("for offence codes outside rape and other sexual offences",
                      int(other_offence.sum()))

    year = text["year"].str.extract(r"^(\d{4})\s*[/-]\s*(\d{2})$")
    start_year = pd.to_numeric(year[0], errors="coerce")
    end_ok = (start_year + 1) % 100 == pd.to_numeric(year[1], errors="coerce")
    bad_year = start_year.isna() | ~end_ok
    _errors_for(report, table, bad_year & ~non_territorial, cols["year"],
                "bad financial year: write it as 2023/24 or 2023-24")
    quarter = pd.to_numeric(
        text["quarter"].str.upper().str.removeprefix("Q"), errors="coerce"
    )
    bad_quarter = ~quarter.isin([1, 2, 3, 4])
    _errors_for(report, table, bad_quarter & ~non_territorial, cols["quarter"],
                "bad financial quarter: 1 to 4 or Q1 to Q4 (Q1 is April to June)")

    month = 4 + (quarter.fillna(1) - 1) * 3
    period_year = start_year.fillna(1900) + (month > 12)
    period_month = (month - 1) % 12 + 1
    period = pd.to_datetime(
        {"year": period_year.astype(int), "month": period_month.astype(int), "day": 1}
    ).dt.date
    future = (period > ctx.current_month) & ~bad_year & ~bad_quarter & ~non_territorial
    _errors_for(report, table, future, cols["quarter"],
                f"quarter is in the future (today is {ctx.today.isoformat()})")

    result = pd.DataFrame(
        {"force_slug": slugs, "period_start": period, "code": code, "rape": rape},
        index=frame.index,
    )
    keep = (rape | oso) & ~non_territorial
    return result[keep]


def _counts(table: Table, column: str, keep: pd.Index, report: Report) -> pd.Series:
    raw = table.frame.loc[keep, column].astype(str).str.strip().str.replace(",", "", regex=False)
    value = pd.to_numeric(raw, errors="coerce")
    _errors_for(report, table, value.isna() & ~raw.str.startswith(FORMULA_PREFIXES), column,
                "not a number")
    _errors_for(report, table, value < 0, column, "negative values are not allowed")
    _errors_for(report, table, value.notna() & (value % 1 != 0), column,
                "a count must be a whole number")
    return value


def _duplicates(table: Table, frame: pd.DataFrame, keys: list[str], column: str,
                report: Report) -> None:
    dupes = frame.duplicated(subset=keys, keep="first")
    if dupes.any():
        first = frame.reset_index().drop_duplicates(subset=keys).set_index(keys)["index"]
        for row in dupes[dupes].index:
            original = first.loc[tuple(frame.loc[row, keys])]
            report.error(table.file, int(row), column, table.frame.at[row, column],
                         f"duplicate row: same force, quarter, offence code and outcome as row "
                         f"{int(original)}")


def parse_ho_outcomes(table: Table, ctx: IngestContext, report: Report) -> pd.DataFrame:
    """Quarterly rape and other-sexual-offence outcome counts per force, as observations."""
    keys = {normalise_header(h): h for h in table.header}
    cols = _locate(table, report, {
        "outcome": keys.get("outcometype"),
        "recorded": _count_column(keys, "recorded"),
        "closed": _count_column(keys, "closed"),
    })
    if cols is None:
        return _empty()
    base = _common(table, {k: cols[k] for k in _COMMON}, ctx, report)
    if base is None:
        return _empty()
    outcome_text = table.frame.loc[base.index, cols["outcome"]].astype(str).str.strip().str.upper()
    # Outcome 1A (alternate offence) is a subset of outcome 1: counting it would count twice.
    subset = outcome_text == "1A"
    if subset.any():
        report.ignore("for outcome 1A (already counted within outcome 1)", int(subset.sum()))
    outcome = pd.to_numeric(outcome_text, errors="coerce")
    bad = ~outcome.isin(list(OUTCOME_TYPES)) & ~subset
    _errors_for(report, table, bad.reindex(table.frame.index, fill_value=False), cols["outcome"],
                "unknown outcome type: 0 to 22 (or 1A)")
    base = base.assign(outcome=outcome)[~subset]
    recorded = _counts(table, cols["recorded"], base.index, report)
    closed = _counts(table, cols["closed"], base.index, report)
    base = base.assign(recorded=recorded, closed=closed)
    _duplicates(table, base.assign(o=outcome_text), ["force_slug", "period_start", "code", "o"],
                cols["outcome"], report)
    if report.errors:
        return _empty()
    return _outcome_measures(base)


def _outcome_measures(base: pd.DataFrame) -> pd.DataFrame:
    rape = base[base["rape"]]
    oso = base[~base["rape"]]
    closed_types = rape["outcome"].between(1, 22)

    def total(frame: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
        summed = frame.groupby(["force_slug", "period_start"])[column].sum()
        return summed.rename("value").reset_index().assign(measure_id=name)

    parts = [
        total(rape, "recorded", "ho_rape_outcomes_recorded_all"),
        total(rape[rape["outcome"] == 1], "recorded", "ho_rape_outcome1_recorded"),
        total(rape[rape["outcome"] == 0], "recorded", "ho_rape_outcome0_recorded"),
        total(rape[closed_types], "closed", "ho_rape_outcomes_closed_all"),
        total(oso, "recorded", "ho_oso_outcomes_recorded_all"),
        total(oso[oso["outcome"] == 1], "recorded", "ho_oso_outcome1_recorded"),
    ]
    parts += [
        total(rape[rape["outcome"] == n], "closed", f"ho_rape_outcome{n}_closed")
        for n in (1, 14, 15, 16, 18)
    ]
    return _complete(pd.concat(parts, ignore_index=True), base)


def _complete(measures: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Zero-fill: a force-quarter in the file has every measure, even with no such outcome."""
    names = measures["measure_id"].unique()
    cells = base[["force_slug", "period_start"]].drop_duplicates()
    grid = cells.merge(pd.DataFrame({"measure_id": names}), how="cross")
    out = grid.merge(measures, on=["force_slug", "period_start", "measure_id"], how="left")
    out["value"] = out["value"].fillna(0.0).astype(float)
    return out[["force_slug", "measure_id", "period_start", "value"]]


def parse_ho_recorded(table: Table, ctx: IngestContext, report: Report) -> pd.DataFrame:
    """Quarterly recorded rape and other sexual offences per force, as observations."""
    keys = {normalise_header(h): h for h in table.header}
    cols = _locate(table, report, {"offences": keys.get("numberofoffences")})
    if cols is None:
        return _empty()
    base = _common(table, {k: cols[k] for k in _COMMON}, ctx, report)
    if base is None:
        return _empty()
    offences = _counts(table, cols["offences"], base.index, report)
    base = base.assign(offences=offences)
    _duplicates(table, base, ["force_slug", "period_start", "code"], cols["code"], report)
    if report.errors:
        return _empty()
    base = base.assign(measure_id=np.where(base["rape"], "ho_rape_offences", "ho_oso_offences"))
    summed = base.groupby(["force_slug", "period_start", "measure_id"])["offences"].sum()
    out = summed.rename("value").reset_index()
    grid = base[["force_slug", "period_start"]].drop_duplicates().merge(
        pd.DataFrame({"measure_id": ["ho_rape_offences", "ho_oso_offences"]}), how="cross"
    )
    out = grid.merge(out, on=["force_slug", "period_start", "measure_id"], how="left")
    out["value"] = out["value"].fillna(0.0).astype(float)
    return out[["force_slug", "measure_id", "period_start", "value"]]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["force_slug", "measure_id", "period_start", "value"])
