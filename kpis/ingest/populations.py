"""ONS mid-year population estimates for police force areas, loaded by an administrator.

Counts are compared per 100,000 people of the period's year, so the flight deck keeps a
population for each force and year (``force_populations``). The file the ONS publishes
is ad hoc release 3194, *Population estimates for police force areas in England and
Wales by single year of age and sex, mid-1991 to mid-2024*
(``policeforceareas1991to2024.xlsx``): beside its cover and notes, one sheet per span
of years ("Mid-2011 to Mid-2020", "Mid-2021 to Mid-2024"), each with three title rows
above the header ``PFA 2023 Code``, ``PFA 2023 Name``, ``Year``, then a column per sex
and single year of age (``F0`` ... ``F90``, ``M0`` ... ``M90``), one row per police
force area and year. A force's population is the sum of its age-and-sex cells. Also
read, as CSV or XLSX:

- the same with one population column (``Population``, ``All ages``) instead of ages;
- one column per year, as the ONS summary tables lay them out (``Code``, ``Name``,
  ``Geography``, ``Mid-2024``, ``Mid-2023``, ...);
- a plain long file ``force,year,population``.

Areas are matched by ONS code (``forces.ons_code``: E23... in England, W15... in Wales)
first, then by name through the alias table. Rows for other areas (England and Wales,
countries, regions, local authorities) and years before the data starts (2019) are
passed over and counted. A year is loaded whole: every force must have an estimate,
and loading a year replaces all that year's estimates.

Every problem is reported at once (file, sheet, row, column, value and rule), checked
a column at a time, never cell by cell; one refuses the file and nothing is written.
The cost is bounded whatever the file: at most ``MAX_BYTES``, ``LIMITS.sheets``
sheets, ``LIMITS.rows`` rows and ``LIMITS.columns`` columns are read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kpis.ingest.demo import DEMO_START
from kpis.ingest.loader import sha256_of
from kpis.ingest.problems import Report
from kpis.ingest.reference_files import (
    MAX_FINDINGS_PER_RULE,
    ONS_CODE,
    PFA_CODE,
    ForceRegister,
    check_file,
    errors_for,
    write_if_valid,
)
from kpis.ingest.tables import (
    FORMULA_CELL_RULE,
    FORMULA_RULE,
    SheetLimits,
    Table,
    looks_like_formula,
    normalise_header,
    read_sheets,
    read_table,
)
from kpis.storage.reference import POPULATION_COLUMNS, normalise_name, store_populations

MAX_BYTES = 20 << 20  # 20 MiB, as the upload page (the ONS workbook is a few MB)
MAX_ROWS = 5_000  # rows of a CSV file; 43 forces over the years since 2019 take ~300
LIMITS = SheetLimits(sheets=30, rows=5_000, columns=400)  # ages 0-90 by sex: 185 columns
MAX_POPULATION = 100_000_000  # more than England and Wales together: a slip
FIRST_YEAR = DEMO_START.year  # the data starts in April 2019: earlier years are not needed
SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")

_CODE_KEYS = {"code", "areacode", "geographycode", "onscode", "pfacode"}
_NAME_KEYS = {"name", "areaname", "geographyname", "force", "forcename", "policeforce",
              "policeforcearea", "pfa", "pfaname"}
_YEAR_KEYS = {"year", "midyear", "calendaryear"}
_TOTAL_KEYS = {"population", "allages", "total", "persons", "allpersons", "totalpopulation"}
# PFA23CD, "PFA 2023 Code", "Police Force Area 2023 code"; and the names likewise.
_PFA_CODE_HEADER = re.compile(r"^(pfa|policeforcearea)\d{0,4}(cd|code)$")
_PFA_NAME_HEADER = re.compile(r"^(pfa|policeforcearea)\d{0,4}(nm|name)$")
_AGE_HEADER = re.compile(r"^[fm]\d{1,3}$")  # F0 ... M90 ("M90+" normalises to m90)
_YEAR_HEADER = re.compile(r"^(?:mid)?(\d{4})$")  # "Mid-2024", "Mid 2010", "2024"
_YEAR_CELL = re.compile(r"^(?:mid[-\s]?)?(\d{4})$", re.IGNORECASE)
_SHEET_SPAN = re.compile(r"mid-?\s*(\d{4})\s*to\s*mid-?\s*(\d{4})", re.IGNORECASE)
# Totals a file may carry beside the forces: passed over, like their codes.
_AGGREGATE_NAMES = {normalise_name(n) for n in (
    "England and Wales", "England", "Wales", "United Kingdom", "Great Britain")}
_OTHER_AREAS = ("for areas that are not police force areas (England and Wales, countries, "
                "regions, local authorities)")
_EARLY_YEARS = (f"of years before {FIRST_YEAR} (the flight deck's data starts in "
                f"April {FIRST_YEAR})")


@dataclass(frozen=True)
class _Layout:
    code: str | None  # the area code column
    name: str | None  # the area or force name column
    year: str | None  # long layouts: the year column
    total: str | None  # long layouts: the population column
    ages: tuple[str, ...]  # long layouts: the age-and-sex columns, summed
    years: dict[str, int]  # one column per year: column -> year

    @property
    def force_column(self) -> str:
        return self.code or self.name or ""


def _layout(header: list[str]) -> _Layout | None:
    """Which column is which, by normalised header; None if not a population table."""
    keys = [(h, normalise_header(h)) for h in header]

    def first(match: set[str], pattern: re.Pattern[str]) -> str | None:
        return next((h for h, k in keys if k in match or pattern.match(k)), None)

    code, name = first(_CODE_KEYS, _PFA_CODE_HEADER), first(_NAME_KEYS, _PFA_NAME_HEADER)
    year = next((h for h, k in keys if k in _YEAR_KEYS), None)
    total = next((h for h, k in keys if k in _TOTAL_KEYS), None)
    ages = tuple(h for h, k in keys if _AGE_HEADER.match(k))
    years = {h: int(m.group(1)) for h, k in keys if (m := _YEAR_HEADER.match(k))}
    if code is None and name is None:
        return None
    if year is not None and (total is not None or ages):
        return _Layout(code, name, year, total, () if total else ages, {})
    if year is None and years:
        return _Layout(code, name, None, None, (), years)
    return None


def _recognised(header: list[str]) -> bool:
    return _layout(header) is not None


def _early_sheet(title: str) -> str | None:
    """A sheet named for a span of years wholly before the data starts is not read."""
    span = _SHEET_SPAN.search(title)
    if span and int(span.group(2)) < FIRST_YEAR:
        return f"sheet not read: estimates {_EARLY_YEARS}"
    return None


@dataclass
class PopulationResult:
    file: str
    sha256: str
    years: list[int] = field(default_factory=list)
    rows: int = 0  # estimates stored
    replaced: dict[int, int] = field(default_factory=dict)  # year -> estimates it held before
    report: Report = field(default_factory=Report)

    def changed(self) -> str:
        """What the load changed, in words (for the audit log and the command line)."""
        years = ", ".join(f"{year} ({before} replaced)"
                          for year, before in sorted(self.replaced.items()))
        return f"{self.rows} population estimate(s) for year(s) {years}"


def parse_populations(path: Path, register: ForceRegister, today: dt.date
                      ) -> tuple[pd.DataFrame, Report]:
    """Estimates (force_slug, year, population) from ``path``, and every finding."""
    path = Path(path)
    report = Report()
    empty = pd.DataFrame(columns=POPULATION_COLUMNS)
    if not check_file(path, report, MAX_BYTES, SUFFIXES, "population estimates"):
        return empty, report
    tables = _read(path, report)
    candidates = []
    for table in tables:
        layout = _layout(table.header)
        if layout is None:
            report.error(table.file, table.header_row, None, ", ".join(table.header),
                         "cannot tell which columns hold the areas, years and "
                         "populations: expected the ONS layout (PFA code, PFA name, Year, "
                         "then F0 ... M90 or a population column), Mid-YYYY columns, or "
                         "force, year, population")
            continue
        candidates.append(_candidates(table, layout, register, today, report))
    if not candidates:
        if not tables and not report.errors:
            report.error(path.name, None, None, None,
                         "no sheet has police force area population estimates: expected "
                         "the ONS layout (PFA code, PFA name, Year, then F0 ... M90)")
        return empty, report
    found = pd.concat(candidates, ignore_index=True)
    if found.empty and not report.errors:
        report.error(path.name, None, None, None,
                     f"no estimates for police force areas from {FIRST_YEAR} on: every row "
                     "is for another area or an earlier year")
    _check_duplicates(found, register, report)
    _check_whole_years(path.name, found, register, report)
    _check_plausible(found, register, report)
    _drop_shadowed(report)
    if report.errors:
        return empty, report
    estimates = found.dropna(subset=["population"]).drop_duplicates(["force_slug", "year"])
    return (estimates[POPULATION_COLUMNS].astype({"year": "int64", "population": "int64"})
            .sort_values(["year", "force_slug"]).reset_index(drop=True)), report


def _drop_shadowed(report: Report) -> None:
    """A formula cell is read as blank: its column's own check (blank, say) is dropped."""
    formulas = {(f.file, f.row, f.column) for f in report.findings
                if f.rule == FORMULA_CELL_RULE}
    report.findings[:] = [f for f in report.findings if f.rule == FORMULA_CELL_RULE
                          or (f.file, f.row, f.column) not in formulas]


def _read(path: Path, report: Report) -> list[Table]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_sheets(path, report, _recognised, LIMITS, skip=_early_sheet)
    table = read_table(path, report, recognise=_recognised)
    if table is None:
        return []
    if len(table.frame) > MAX_ROWS:
        report.error(table.file, None, None, f"{len(table.frame):,} rows",
                     f"too many rows: a population file has at most {MAX_ROWS:,}")
        return []
    return [table]


def _text(table: Table, column: str | None) -> pd.Series:
    if column is None:
        return pd.Series("", index=table.frame.index, dtype=object)
    return table.frame[column].astype(str).str.strip()


def _candidates(table: Table, layout: _Layout, register: ForceRegister, today: dt.date,
                report: Report) -> pd.DataFrame:
    """One row per area and year the table gives: file, row, force_slug (None if the
    area is unknown), year (None if wrong) and population (NaN if wrong)."""
    rows = table.frame.index.to_numpy()
    slugs, keep = _forces(table, layout, register, report)
    parts = []
    if layout.year is not None:
        years, early = _years(table, layout.year, today, report, keep)
        keep &= ~early
        if early.any():
            report.ignore(_EARLY_YEARS, int(early.sum()))
        columns = (layout.total,) if layout.total else layout.ages
        values = _values(table, keep, columns, report)
        value_column = layout.total or f"{layout.ages[0]} ... {layout.ages[-1]}"
        parts.append(_part(table, rows[keep], slugs[keep], years[keep], values, layout,
                           layout.year, value_column))
    else:
        early_columns = []
        for column, year in layout.years.items():
            if year < FIRST_YEAR:
                early_columns.append(column)
                continue
            if dt.date(year, 6, 30) > today:
                report.error(table.file, table.header_row, column, column,
                             f"the estimate for mid-{year} is in the future "
                             f"(today is {today.isoformat()})")
                continue
            values = _values(table, keep, (column,), report)
            parts.append(_part(table, rows[keep], slugs[keep], np.full(keep.sum(), year),
                               values, layout, column, column))
        if early_columns:
            report.warning(table.file, table.header_row, None, ", ".join(early_columns),
                           f"column(s) not read: estimates {_EARLY_YEARS}")
    if not parts:
        return pd.DataFrame(columns=_CANDIDATE_COLUMNS)
    return pd.concat(parts, ignore_index=True)


_CANDIDATE_COLUMNS = ["file", "row", "force_slug", "year", "population", "force_column",
                      "year_column", "value_column"]


def _part(table: Table, rows: np.ndarray, slugs: np.ndarray, years: np.ndarray,
          values: np.ndarray, layout: _Layout, year_column: str, value_column: str
          ) -> pd.DataFrame:
    """Where each estimate comes from (for findings) and what it says."""
    return pd.DataFrame({
        "file": table.file, "row": rows, "force_slug": slugs,
        "year": pd.Series(years, dtype=object), "population": values,
        "force_column": layout.force_column, "year_column": year_column,
        "value_column": value_column})


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """The distinct keys, each row's position among them, and each one's rows."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    members = pd.Series(np.arange(len(keys))).groupby(inverse).indices
    return distinct, inverse, {int(k): np.asarray(v) for k, v in members.items()}


def _forces(table: Table, layout: _Layout, register: ForceRegister, report: Report
            ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's force slug (None if unknown), and which rows to read (not other areas).

    One verdict per distinct code and name, spread over the rows that carry them.
    """
    codes, names = _text(table, layout.code), _text(table, layout.name)
    _, inverse, members = _distinct((codes + "\x1f" + names).to_numpy(dtype=str))
    verdicts = [_force(codes.iat[at[0]], names.iat[at[0]], register)
                for _, at in sorted(members.items())]
    slug = np.array([v[0] for v in verdicts], dtype=object)[inverse]
    ignored = np.array([v[1] == "ignore" for v in verdicts], dtype=bool)[inverse]
    if ignored.any():
        report.ignore(_OTHER_AREAS, int(ignored.sum()))
    rows = table.frame.index.to_numpy()
    for position, (_, rule, column) in enumerate(verdicts):
        if rule in (None, "ignore"):
            continue
        at = members[position]
        shown, header = (codes, layout.code) if column == "code" else (names, layout.name)
        errors_for(report, table.file, rows[at], header or "", shown.to_numpy()[at], rule)
    return slug, ~ignored


def _force(code: str, name: str, register: ForceRegister
           ) -> tuple[str | None, str | None, str]:
    """(slug, rule broken or "ignore" or None, the column the rule is about)."""
    if code:
        if looks_like_formula(code):
            return None, FORMULA_RULE, "code"
        slug = register.by_code(code)
        if slug is not None:
            return slug, None, "code"
        if ONS_CODE.match(code.upper()) and not PFA_CODE.match(code.upper()):
            return None, "ignore", "code"  # a country, region or local authority
        named = register.by_name(name) if name and not looks_like_formula(name) else None
        if named is not None:
            return named, None, "name"  # a police force area code this database lacks
        return None, ("unknown police force area code: neither the code nor the name "
                      "matches a territorial force"), "code"
    if looks_like_formula(name):
        return None, FORMULA_RULE, "name"
    if not name:
        return None, "force is required: give the area's ONS code or its name", "name"
    slug = register.by_slug_name_or_code(name)
    if slug is not None:
        return slug, None, "name"
    if normalise_name(name) in _AGGREGATE_NAMES:
        return None, "ignore", "name"
    return None, "unknown force: give its slug (e.g. kent), its name or its ONS code", "name"


def _years(table: Table, column: str, today: dt.date, report: Report, keep: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's year (None if wrong) and whether it is before the data starts; only
    the rows in ``keep`` (not other areas) are reported or counted."""
    texts = _text(table, column)
    distinct, inverse, members = _distinct(texts.to_numpy(dtype=str))
    verdicts = [_year(str(text), today) for text in distinct]
    rows = table.frame.index.to_numpy()
    for position, (_, rule) in enumerate(verdicts):
        at = members[position]
        at = at[keep[at]]
        if rule is not None and len(at):
            errors_for(report, table.file, rows[at], column, texts.to_numpy()[at], rule)
    years = np.array([year if rule is None else None for year, rule in verdicts],
                     dtype=object)
    early = np.array([rule is None and year is not None and year < FIRST_YEAR
                      for year, rule in verdicts], dtype=bool)
    return years[inverse], early[inverse] & keep


def _year(text: str, today: dt.date) -> tuple[int | None, str | None]:
    if looks_like_formula(text):
        return None, FORMULA_RULE
    match = _YEAR_CELL.match(text)
    if not match:
        return None, "not a year: write it as YYYY (the estimate at 30 June of that year)"
    year = int(match.group(1))
    if dt.date(year, 6, 30) > today:
        return None, (f"the estimate for mid-{year} is in the future "
                      f"(today is {today.isoformat()})")
    return year, None


def _values(table: Table, keep: np.ndarray, columns: tuple[str, ...], report: Report
            ) -> np.ndarray:
    """Each kept row's population (the sum of ``columns``); NaN where a cell is wrong.

    Checked a column at a time: blank, a formula, not a number, negative, fractional or
    too large, each reported with its row and column.
    """
    frame = table.frame.loc[keep]
    rows = frame.index.to_numpy()
    total = np.zeros(len(frame), dtype=float)
    wrong = np.zeros(len(frame), dtype=bool)
    summed = len(columns) > 1
    for column in columns:
        text = frame[column].astype(str).str.strip()
        number = pd.to_numeric(text.str.replace(",", "", regex=False),
                               errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):  # NaN and infinity are flagged before
            fractional = np.mod(number, 1) != 0
        blank = (text == "").to_numpy()
        formula = (text.str.match(r"^[=+\-@]") & np.isnan(number)).to_numpy()
        checks = [
            (blank, "blank: every age-and-sex cell needs a count (write 0 for none)"
             if summed else "blank: a population is required"),
            (formula, FORMULA_RULE),
            (np.isnan(number), "not a number"),
            (number < 0, "negative values are not allowed"),
            (number >= MAX_POPULATION, f"too large: a population must be below "
                                       f"{MAX_POPULATION:,}"),
            (fractional, "a population must be a whole number"),
        ]
        flagged = np.zeros(len(frame), dtype=bool)
        values = text.to_numpy()
        for mask, rule in checks:
            mask = mask & ~flagged
            flagged |= mask
            at = np.flatnonzero(mask)
            errors_for(report, table.file, rows[at], column, values[at], rule)
        wrong |= flagged
        total += np.where(flagged, 0.0, number)
    if columns:
        # The cells may each be right and their sum still not a population.
        label = columns[0] if not summed else f"{columns[0]} ... {columns[-1]}"
        shown = values if not summed else np.array([f"{t:.0f}" for t in total], dtype=object)
        for mask, rule in ((~wrong & (total == 0), "a population must be more than 0"),
                           (~wrong & (total >= MAX_POPULATION),
                            f"too large: a population must be below {MAX_POPULATION:,}")):
            at = np.flatnonzero(mask)
            errors_for(report, table.file, rows[at], label, shown[at], rule)
            wrong |= mask
    return np.where(wrong, np.nan, total)


def _check_duplicates(found: pd.DataFrame, register: ForceRegister, report: Report) -> None:
    usable = found[found["force_slug"].notna() & found["year"].notna()]
    repeated = usable[usable.duplicated(["force_slug", "year"], keep=False)]
    if repeated.empty:
        return
    shown = 0
    for (slug, year), group in repeated.groupby(["force_slug", "year"], sort=False):
        first = group.iloc[0]
        for _, again in group.iloc[1:].iterrows():
            if shown >= MAX_FINDINGS_PER_RULE:
                break
            where = (f"row {first['row']}" if again["file"] == first["file"]
                     else f"{first['file']} row {first['row']}")
            report.error(again["file"], int(again["row"]), again["force_column"],
                         register.names[str(slug)],
                         f"duplicate: an estimate for {register.names[str(slug)]} in "
                         f"{int(year)} is already given in {where}")
            shown += 1


def _check_whole_years(file: str, found: pd.DataFrame, register: ForceRegister,
                       report: Report) -> None:
    """A year replaces every estimate of that year, so it must cover every force."""
    usable = found[found["force_slug"].notna() & found["year"].notna()]
    everyone = set(register.names)
    for year, group in usable.groupby("year", sort=True):
        missing = [register.names[s] for s in register.names
                   if s in everyone - set(group["force_slug"])]
        if missing:
            listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more"
                                                if len(missing) > 10 else "")
            report.error(file, None, str(group["year_column"].iloc[0]), str(int(year)),
                         f"no estimate for {len(missing)} of the {len(everyone)} forces "
                         f"({listed}): a year is loaded whole, replacing that year's "
                         "estimates")


def _check_plausible(found: pd.DataFrame, register: ForceRegister, report: Report) -> None:
    """Warn (not refuse) where an estimate is far from the force's approximate size:
    a file in thousands, or figures for another geography."""
    usable = found.dropna(subset=["population"])
    usable = usable[usable["force_slug"].notna()]
    if usable.empty:
        return
    approx = usable["force_slug"].map(register.populations).astype(float)
    ratio = usable["population"].astype(float) / approx
    odd = usable[(ratio < 1 / 3) | (ratio > 3)]
    for _, row in odd.head(MAX_FINDINGS_PER_RULE).iterrows():
        report.warning(row["file"], int(row["row"]), row["value_column"],
                       f"{row['population']:.0f}",
                       f"far from {register.names[row['force_slug']]}'s approximate "
                       f"population ({register.populations[row['force_slug']]:,}): "
                       "is the file in thousands, or for another area?")


def load_populations(db_path: Path, path: Path, today: dt.date | None = None
                     ) -> PopulationResult:
    """Validate ``path`` and replace the estimates of every year it gives, all or nothing.

    Raises ``LoadRefused`` (nothing written) when the file has an error.
    """
    path = Path(path)
    today = today or dt.date.today()
    replaced: dict[int, int] = {}

    def validate(conn: sa.Connection, register: ForceRegister
                 ) -> tuple[Report, pd.DataFrame]:
        estimates, report = parse_populations(path, register, today)
        return report, estimates

    def write(conn: sa.Connection, estimates: pd.DataFrame) -> None:
        replaced.update(store_populations(conn, estimates, path.name))

    report, estimates = write_if_valid(db_path, validate, write)
    return PopulationResult(path.name, sha256_of(path), sorted(replaced), len(estimates),
                            replaced, report)
