"""Home Office open data: crime outcomes tables and police force area recorded crime.

Both come one row per force, financial quarter and offence code (and, for outcomes,
outcome type). Header wording, year and quarter notation and force names vary
between releases; all are matched loosely. Rows for bodies that are not territorial
forces are ignored and counted, as are rows for offences other than rape and other
sexual offences.

These files run to a million rows, so validation never loops over rows: each column
is reduced to its distinct values (a handful of years, quarters, forces, codes and
small counts), each distinct value is checked once, and the verdicts are spread back
over the rows with integer indexing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis.ingest.context import EARLIEST_MONTH, IngestContext
from kpis.ingest.problems import Report
from kpis.ingest.tables import (
    FORMULA_RULE,
    Table,
    looks_like_formula,
    normalise_header,
    parse_count,
)
from kpis.storage.reference import NON_TERRITORIAL, normalise_name

RAPE_CODES = ("19C", "19D", "19E", "19F", "19G", "19H")
OTHER_SEXUAL_OFFENCE_CODES = (
    "17A", "17B", "20A", "20B", "21", "22A", "22B", "23", "70", "71", "72", "73",
    "88A", "88C", "88D", "88E",
)
OUTCOME_TYPES = range(0, 23)
ALTERNATE_OUTCOMES = ("1A", "2A", "3A")
# Closed-basis outcome types stored one by one (the KPIs' numerators).
CLOSED_TYPES_STORED = (1, 14, 15, 16, 18)
RAPE_OUTCOME_MEASURES = (
    "ho_rape_outcomes_recorded_all", "ho_rape_outcome1_recorded", "ho_rape_outcome0_recorded",
    "ho_rape_outcomes_closed_all", *(f"ho_rape_outcome{n}_closed" for n in CLOSED_TYPES_STORED),
)
OSO_OUTCOME_MEASURES = ("ho_oso_outcomes_recorded_all", "ho_oso_outcome1_recorded",
                        "ho_oso_outcome0_recorded")
ROWS_KEPT = "rows kept"  # Report.counted: the rows that went into the figures
# Beyond this many rows breaking one rule in one column, the rest are counted, not listed.
MAX_ROWS_PER_RULE = 1000
MAX_WARNINGS_PER_RULE = 20
NEGATIVE_RULE = ("a negative count is a published correction: summed as published "
                 "(it lowers the quarter's total)")
# The N/A family: 'N/A', 'NA', 'N/A - Offence code expired', 'N/A - data not provided'.
_NOT_A_COUNT = re.compile(r"^n/?a(?:\s*-\s*(.*))?$", re.IGNORECASE)
_NOT_A_COUNT_REASONS = {
    "": "N/A: not applicable, e.g. outcome 0 on the closed basis (no investigation closed)",
    "offence code expired": "N/A - Offence code expired: the code is no longer recorded",
    "data not provided": "N/A - data not provided: the force did not supply it",
}

_YEAR_RE = re.compile(r"^(\d{4})\s*[/-]\s*(\d{2}|\d{4})$")
_NON_TERRITORIAL_KEYS = tuple(normalise_name(n) for n in NON_TERRITORIAL)

# Which column is which, by normalised header.
_COMMON = {
    "year": ("financialyear",),
    "quarter": ("financialquarter",),
    "force": ("forcename",),
    "code": ("offencecode",),
}
_LABELS = {
    "year": "Financial Year", "quarter": "Financial Quarter", "force": "Force Name",
    "code": "Offence Code", "outcome": "Outcome Type",
    "recorded": "outcomes for offences recorded in the quarter",
    "closed": "outcomes for investigations closed in the quarter",
    "offences": "Number of Offences",
}


def _find(keys: dict[str, str], candidates: tuple[str, ...]) -> str | None:
    return next((keys[c] for c in candidates if c in keys), None)


def _count_column(keys: dict[str, str], basis: str) -> str | None:
    """The outcomes count column for ``basis`` 'recorded' or 'closed', in any wording."""
    return next((h for key, h in keys.items() if basis in key and "outcome" in key), None)


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
        report.error(table.file, table.header_row, None,
                     ", ".join(_LABELS[m] for m in missing), "missing required column(s)")
        return None
    return {k: v for k, v in columns.items() if v is not None}


class _Column:
    """One column as integer codes into its distinct values (stripped text)."""

    def __init__(self, table: Table, header: str) -> None:
        series = table.frame[header]
        self.header = header
        self.raw = series
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes = series.cat.codes.to_numpy()
            distinct = [str(c) for c in series.cat.categories]
        else:
            codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
            distinct = [str(u) for u in uniques]
        # A missing value has code -1, which indexes the "" appended last.
        self.codes = codes.astype(np.int64)
        self.distinct = [d.strip() for d in distinct] + [""]

    def per_row(self, per_distinct: list[object] | np.ndarray,
                dtype: object = None) -> np.ndarray:
        """Spread one verdict per distinct value over the rows."""
        return np.asarray(per_distinct, dtype=dtype)[self.codes]

    def normalised_ids(self, key: list[str]) -> np.ndarray:
        """Per row, an integer that is equal exactly when ``key`` of the value is equal."""
        ids = pd.factorize(pd.Series(key, dtype=object))[0]
        return self.per_row(ids, np.int64)


def _errors_for(report: Report, table: Table, mask: np.ndarray, column: _Column,
                rule: str, severity: str = "error", limit: int = MAX_ROWS_PER_RULE) -> None:
    """One finding per row in ``mask``, quoting the cell; past ``limit``, a count instead."""
    positions = np.flatnonzero(mask)
    if not len(positions):
        return
    add = report.error if severity == "error" else report.warning
    index = table.frame.index
    for position in positions[:limit]:
        add(table.file, int(index[position]), column.header, column.raw.iat[position], rule)
    if len(positions) > limit:
        add(table.file, None, column.header, None,
            f"{len(positions) - limit} more row(s) from row "
            f"{int(index[positions[limit]])} on: {rule}")


@dataclass
class _Rows:
    """Per-row verdicts on the columns every Home Office table shares."""

    force: np.ndarray  # index into the context's sorted force slugs, -1 if unknown
    period: np.ndarray  # months since year 0 of the quarter's first month, -1 if invalid
    code: np.ndarray  # normalised offence code id
    rape: np.ndarray
    keep: np.ndarray  # a territorial row for a rape or other sexual offence
    territorial_ok: np.ndarray  # territorial, with a valid force and quarter
    slugs: list[str]


def _common(table: Table, cols: dict[str, str], ctx: IngestContext, report: Report) -> _Rows:
    """Validate year, quarter, force and offence code; classify rows."""
    columns = {key: _Column(table, cols[key]) for key in _COMMON}
    formula: dict[str, np.ndarray] = {}
    for key, column in columns.items():
        formula[key] = column.per_row([looks_like_formula(d) for d in column.distinct], bool)
        _errors_for(report, table, formula[key], column, FORMULA_RULE)

    force = columns["force"]
    names = [normalise_name(d) for d in force.distinct]
    non_territorial = force.per_row(
        [bool(n) and any(k in n for k in _NON_TERRITORIAL_KEYS) for n in names], bool
    )
    if non_territorial.any():
        report.ignore("for bodies that are not territorial forces", int(non_territorial.sum()))
    territorial = ~non_territorial
    slugs = sorted(ctx.force_slugs)
    position = {slug: i for i, slug in enumerate(slugs)}
    force_id = force.per_row([position.get(ctx.aliases.get(n, ""), -1) for n in names], np.int64)
    _errors_for(report, table, (force_id < 0) & territorial & ~formula["force"], force,
                "unknown force")

    year = columns["year"]
    start_year = year.per_row([_financial_year_start(d) for d in year.distinct], np.int64)
    code = columns["code"]
    upper = [d.upper() for d in code.distinct]
    rape = code.per_row([u in RAPE_CODES for u in upper], bool)
    oso = code.per_row([u in OTHER_SEXUAL_OFFENCE_CODES for u in upper], bool)
    other_offence = ~(rape | oso) & territorial
    if other_offence.any():
        report.ignore("for offence codes outside rape and other sexual offences",
                      int(other_offence.sum()))
    bad_year = (start_year < 0) & territorial
    _errors_for(report, table, bad_year & ~formula["year"], year,
                "bad financial year: write it as 2023/24 or 2023-24 "
                f"(from {EARLIEST_MONTH.year}/{(EARLIEST_MONTH.year + 1) % 100:02d} on)")
    quarter = columns["quarter"]
    quarter_no = quarter.per_row([_quarter_number(d) for d in quarter.distinct], np.int64)
    bad_quarter = (quarter_no == 0) & territorial
    _errors_for(report, table, bad_quarter & ~formula["quarter"], quarter,
                "bad financial quarter: 1 to 4 or Q1 to Q4 (Q1 is April to June)")

    # The quarter's first month, counted in months: April of the start year is Q1.
    period = np.where((start_year >= 0) & (quarter_no > 0),
                      start_year * 12 + 3 + (quarter_no - 1) * 3, -1)
    current = ctx.current_month.year * 12 + ctx.current_month.month - 1
    # Figures for a quarter are final only once its last month has ended.
    future = (period + 3 > current) & (period >= 0) & territorial
    _errors_for(report, table, future, quarter,
                f"quarter is in the future or not yet ended (today is {ctx.today.isoformat()})")
    period = np.where(future, -1, period)

    territorial_ok = territorial & (force_id >= 0) & (period >= 0)
    return _Rows(
        force=force_id, period=period, code=code.normalised_ids(upper), rape=rape,
        keep=(rape | oso) & territorial, territorial_ok=territorial_ok, slugs=slugs,
    )


def _financial_year_start(text: str) -> int:
    """2023 for '2023/24', '2023-24' or '2023/2024'; -1 if the years do not follow on."""
    match = _YEAR_RE.match(text)
    if not match:
        return -1
    start, end = int(match.group(1)), int(match.group(2))
    following = start + 1 if len(match.group(2)) == 4 else (start + 1) % 100
    # An earlier year is a typing slip; year 0 is not even a date ("0000/01").
    return start if end == following and start >= EARLIEST_MONTH.year else -1


def _quarter_number(text: str) -> int:
    """1 to 4 for '1' to '4' or 'Q1' to 'Q4'; 0 for anything else."""
    stripped = text.upper().removeprefix("Q").strip()
    return int(stripped) if stripped in ("1", "2", "3", "4") else 0


def not_a_count_reason(text: str) -> str | None:
    """Why a published cell holds no count ('N/A', 'NA', 'N/A - Offence code expired',
    'N/A - data not provided'), or None for any other text."""
    match = _NOT_A_COUNT.match(text.strip())
    if not match:
        return None
    detail = (match.group(1) or "").strip().lower()
    return _NOT_A_COUNT_REASONS.get(detail, f"marked '{text.strip()}'")


def _counts(report: Report, table: Table, column: _Column, rows: np.ndarray) -> np.ndarray:
    """Whole counts for the rows in ``rows``, as the Home Office publishes them; NaN
    where invalid.

    A cell of the N/A family holds no count (0 in every sum) and is counted in the
    report with its reason. A negative count is a published correction: summed as
    published, with a warning.
    """
    values = np.full(len(column.distinct), np.nan)
    rules: list[str | None] = []
    reasons: list[str | None] = []
    for i, text in enumerate(column.distinct):
        reason = not_a_count_reason(text)
        reasons.append(reason)
        if reason is not None:
            values[i] = 0.0
            rules.append(None)
            continue
        # The same rules as a return's counts: no "1_000", "nan" or "1e309" (which
        # float() would take), nothing too large to store exactly.
        value, rule = parse_count(text, allow_negative=True)
        if value is not None:
            values[i] = value
        rules.append(rule)
    broken = sorted({r for r in rules if r})
    if broken:
        rule_of_row = column.per_row([broken.index(r) if r else -1 for r in rules], np.int64)
        for n, rule in enumerate(broken):
            _errors_for(report, table, rows & (rule_of_row == n), column, rule)
    for reason in sorted({r for r in reasons if r}):
        marked = rows & column.per_row([r == reason for r in reasons], bool)
        if marked.any():
            report.count(f"cells read as no count ({reason})", int(marked.sum()))
    negative = rows & column.per_row(values < 0, bool)
    if negative.any():
        _errors_for(report, table, negative, column, NEGATIVE_RULE, "warning",
                    MAX_WARNINGS_PER_RULE)
        report.count("negative corrections summed as published", int(negative.sum()))
    return column.per_row(values, float)


def _duplicates(report: Report, table: Table, keys: dict[str, np.ndarray], valid: np.ndarray,
                column: _Column, what: str) -> None:
    frame = pd.DataFrame({k: v[valid] for k, v in keys.items()})
    dupes = frame.duplicated(keep="first").to_numpy()
    if not dupes.any():
        return
    rows = table.frame.index.to_numpy()[valid]
    first = frame.assign(row=rows).groupby(list(keys), sort=False)["row"].transform("first")
    positions = np.flatnonzero(valid)[dupes]
    for position, original in list(zip(positions, first.to_numpy()[dupes],
                                        strict=True))[:MAX_ROWS_PER_RULE]:
        report.error(table.file, int(table.frame.index[position]), column.header,
                     column.raw.iat[position], f"duplicate row: same {what} as row {original}")
    if len(positions) > MAX_ROWS_PER_RULE:
        report.error(table.file, None, column.header, None,
                     f"{len(positions) - MAX_ROWS_PER_RULE} more duplicate row(s)")


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
    errors_before = report.error_count
    rows = _common(table, cols, ctx, report)
    outcome_col = _Column(table, cols["outcome"])
    outcome_text = [d.upper() for d in outcome_col.distinct]
    # Outcomes 1A, 2A and 3A (charged, cautioned or summonsed for an alternate offence,
    # published in a workbook of their own) are subsets of outcomes 1, 2 and 3: counting
    # them would count twice, so that workbook loads as an extra that adds nothing.
    subset = outcome_col.per_row([t in ALTERNATE_OUTCOMES for t in outcome_text],
                                 bool) & rows.keep
    if subset.any():
        report.ignore("for outcomes 1A, 2A and 3A (alternate offences, already counted "
                      "within outcomes 1, 2 and 3)", int(subset.sum()))
    outcome = outcome_col.per_row([_outcome_number(t) for t in outcome_text], np.int64)
    used = rows.keep & ~subset
    formula = outcome_col.per_row([looks_like_formula(t) for t in outcome_text], bool)
    _errors_for(report, table, used & formula, outcome_col, FORMULA_RULE)
    _errors_for(report, table, used & (outcome < 0) & ~formula, outcome_col,
                "unknown outcome type: 0 to 22 (or 1A, 2A, 3A)")
    recorded = _counts(report, table, _Column(table, cols["recorded"]), used)
    closed = _counts(report, table, _Column(table, cols["closed"]), used)
    valid = used & rows.territorial_ok & (outcome >= 0)
    _duplicates(report, table, {"force": rows.force, "period": rows.period, "code": rows.code,
                                "outcome": outcome}, valid, outcome_col,
                "force, quarter, offence code and outcome type")
    if report.error_count > errors_before:
        return _empty()
    report.count(ROWS_KEPT, int(valid.sum()))

    rape = rows.rape[valid]
    kind = outcome[valid]
    rec, clo = recorded[valid], closed[valid]
    columns = {
        "ho_rape_outcomes_recorded_all": np.where(rape, rec, 0.0),
        "ho_rape_outcome1_recorded": np.where(rape & (kind == 1), rec, 0.0),
        "ho_rape_outcome0_recorded": np.where(rape & (kind == 0), rec, 0.0),
        "ho_rape_outcomes_closed_all": np.where(rape & (kind >= 1) & (kind <= 22), clo, 0.0),
        **{f"ho_rape_outcome{n}_closed": np.where(rape & (kind == n), clo, 0.0)
           for n in CLOSED_TYPES_STORED},
        "ho_oso_outcomes_recorded_all": np.where(~rape, rec, 0.0),
        "ho_oso_outcome1_recorded": np.where(~rape & (kind == 1), rec, 0.0),
        "ho_oso_outcome0_recorded": np.where(~rape & (kind == 0), rec, 0.0),
    }
    families = []
    if rape.any():
        families += RAPE_OUTCOME_MEASURES
    if (~rape).any():
        families += OSO_OUTCOME_MEASURES
    return _observations(rows, valid, {m: columns[m] for m in families})


def _outcome_number(text: str) -> int:
    # ASCII digits only: "²" and "⑤" are digits to str.isdigit() but not to int().
    return int(text) if text.isascii() and text.isdigit() and int(text) in OUTCOME_TYPES \
        else -1


def _observations(rows: _Rows, valid: np.ndarray,
                  measures: dict[str, np.ndarray]) -> pd.DataFrame:
    """Sum per force-quarter, zero-filled over every force-quarter the file covers.

    A measure family (rape or other sexual offences) is written only if the file has
    rows for it at all; a force-quarter in the file with no such rows then has zero.
    """
    if not measures:
        return _empty()
    cells = pd.DataFrame({"force": rows.force[rows.territorial_ok],
                          "period": rows.period[rows.territorial_ok]}).drop_duplicates()
    data = pd.DataFrame({"force": rows.force[valid], "period": rows.period[valid], **measures})
    summed = data.groupby(["force", "period"]).sum()
    summed = summed.reindex(pd.MultiIndex.from_frame(cells), fill_value=0.0)
    long = summed.reset_index().melt(id_vars=["force", "period"], var_name="measure_id",
                                     value_name="value")
    slug_of = np.array(rows.slugs, dtype=object)
    periods = {p: dt.date(int(p) // 12, int(p) % 12 + 1, 1) for p in long["period"].unique()}
    return pd.DataFrame({
        "force_slug": slug_of[long["force"].to_numpy()],
        "measure_id": long["measure_id"].to_numpy(),
        "period_start": long["period"].map(periods).to_numpy(),
        "value": long["value"].astype(float).to_numpy(),
    })


def parse_ho_recorded(table: Table, ctx: IngestContext, report: Report) -> pd.DataFrame:
    """Quarterly recorded rape and other sexual offences per force, as observations."""
    keys = {normalise_header(h): h for h in table.header}
    cols = _locate(table, report, {"offences": keys.get("numberofoffences")})
    if cols is None:
        return _empty()
    errors_before = report.error_count
    rows = _common(table, cols, ctx, report)
    offences = _counts(report, table, _Column(table, cols["offences"]), rows.keep)
    valid = rows.keep & rows.territorial_ok
    _duplicates(report, table, {"force": rows.force, "period": rows.period, "code": rows.code},
                valid, _Column(table, cols["code"]), "force, quarter and offence code")
    if report.error_count > errors_before:
        return _empty()
    report.count(ROWS_KEPT, int(valid.sum()))
    rape = rows.rape[valid]
    count = offences[valid]
    measures = {}
    if rape.any():
        measures["ho_rape_offences"] = np.where(rape, count, 0.0)
    if (~rape).any():
        measures["ho_oso_offences"] = np.where(~rape, count, 0.0)
    return _observations(rows, valid, measures)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["force_slug", "measure_id", "period_start", "value"])
