"""Each force's NOM adoption month, from a CSV file an administrator loads.

The file has two columns, ``force`` (a slug such as ``kent``, or a force name in any
spelling the alias table knows: "Devon & Cornwall") and ``adoption_month``
(``YYYY-MM``). An empty month clears the force's month; a force not in the file keeps
the month it has. SPC limits are re-based at the month (``kpis.engine.kpi_spc``).

Every problem is reported at once, each naming the file, row, column, value and rule;
one problem refuses the whole file and nothing is written. The cost of checking is
bounded whatever the file: at most ``MAX_BYTES`` are read and ``MAX_ROWS`` rows checked.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from kpis.domain.periods import format_month, parse_month
from kpis.ingest.demo import DEMO_START
from kpis.ingest.loader import sha256_of
from kpis.ingest.problems import Report
from kpis.ingest.reference_files import ForceRegister, check_file, write_if_valid
from kpis.ingest.tables import FORMULA_RULE, looks_like_formula, normalise_header, read_table
from kpis.storage.reference import adoption_months, store_adoption_months

COLUMNS = ("force", "adoption_month")
MAX_ROWS = 1_000  # there are 43 forces: a longer file is not an adoption file
MAX_BYTES = 1 << 20  # 1 MiB; 1,000 rows take some 40 kB
# No force adopted the NOM before the flight deck's data starts (April 2019, the first
# month of the demonstration and of the Home Office series it mirrors): an earlier
# month is a slip, and limits re-based there would be the whole series anyway.
EARLIEST = DEMO_START
MONTH_RULE = "not a month: write it as YYYY-MM (e.g. 2023-07), or leave it empty to clear it"
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def describe_month(month: dt.date | None) -> str:
    return format_month(month) if month is not None else "not known"


@dataclass(frozen=True)
class AdoptionChange:
    slug: str
    name: str
    before: dt.date | None
    after: dt.date | None

    def __str__(self) -> str:
        return f"{self.slug}: {describe_month(self.before)} -> {describe_month(self.after)}"


@dataclass
class AdoptionResult:
    file: str
    sha256: str
    forces: int  # forces the file names
    changes: list[AdoptionChange] = field(default_factory=list)
    report: Report = field(default_factory=Report)

    @property
    def unchanged(self) -> int:
        return self.forces - len(self.changes)

    def changed(self) -> str:
        """What the load changed, in words (for the audit log and the command line)."""
        listed = "; ".join(map(str, self.changes)) or "nothing changed"
        return (f"NOM adoption months of {len(self.changes)} of {self.forces} force(s) "
                f"changed: {listed}")


def _recognised(header: list[str]) -> bool:
    return {normalise_header(c) for c in COLUMNS} <= {normalise_header(h) for h in header}


def parse_adoption(path: Path, register: ForceRegister, today: dt.date
                   ) -> tuple[dict[str, dt.date | None], Report]:
    """The month (None: clear it) each force in the file is given, and every finding."""
    path = Path(path)
    report = Report()
    months: dict[str, dt.date | None] = {}
    if not check_file(path, report, MAX_BYTES, (".csv", ".txt"), "NOM adoption months"):
        return months, report
    table = read_table(path, report, recognise=_recognised)
    if table is None:
        return months, report
    keys = {normalise_header(h): h for h in table.header}
    missing = [c for c in COLUMNS if normalise_header(c) not in keys]
    if missing:
        report.error(table.file, table.header_row, None, ", ".join(missing),
                     "missing required column(s): the file needs the columns "
                     "force and adoption_month")
        return months, report
    force_col, month_col = (keys[normalise_header(c)] for c in COLUMNS)
    for other in table.header:
        if other not in (force_col, month_col):
            report.warning(table.file, table.header_row, other, other, "column ignored")
    if len(table.frame) > MAX_ROWS:
        report.error(table.file, None, None, f"{len(table.frame):,} rows",
                     f"too many rows: an adoption file has at most {MAX_ROWS:,} "
                     "(one row a force)")
        return months, report
    current = dt.date(today.year, today.month, 1)
    seen: dict[str, int] = {}
    frame = table.frame
    for row, force_text, month_text in zip(frame.index, frame[force_col].astype(str),
                                           frame[month_col].astype(str), strict=True):
        slug, force_rule = _force(force_text, register)
        if force_rule:
            report.error(table.file, int(row), force_col, force_text, force_rule)
        month, month_rule = _month(month_text, current, today)
        if month_rule:
            report.error(table.file, int(row), month_col, month_text, month_rule)
        if slug is None:
            continue
        if slug in seen:
            report.error(table.file, int(row), force_col, force_text,
                         f"duplicate force: {register.names[slug]} is already given in "
                         f"row {seen[slug]}")
            continue
        seen[slug] = int(row)
        if month_rule is None:
            months[slug] = month
    return months, report


def _force(text: str, register: ForceRegister) -> tuple[str | None, str | None]:
    if looks_like_formula(text):
        return None, FORMULA_RULE
    if not text.strip():
        return None, "force is required"
    slug = register.by_name(text)
    if slug is None:
        return None, "unknown force: give its slug (e.g. kent) or its name"
    return slug, None


def _month(text: str, current: dt.date, today: dt.date
           ) -> tuple[dt.date | None, str | None]:
    stripped = text.strip()
    if not stripped:
        return None, None  # an empty month clears the force's month
    if looks_like_formula(stripped):
        return None, FORMULA_RULE
    if not _MONTH.match(stripped):
        return None, MONTH_RULE
    try:
        month = parse_month(stripped)
    except ValueError:
        return None, MONTH_RULE
    if month < EARLIEST:
        return None, f"too early: the flight deck's data starts in {EARLIEST:%B %Y}"
    if month > current:
        return None, f"in the future (today is {today.isoformat()})"
    return month, None


def load_adoption(db_path: Path, path: Path, today: dt.date | None = None
                  ) -> AdoptionResult:
    """Validate ``path`` and set the months it gives, all or nothing.

    Raises ``LoadRefused`` (nothing written) when the file has an error.
    """
    path = Path(path)
    today = today or dt.date.today()

    def validate(conn: sa.Connection, register: ForceRegister
                 ) -> tuple[Report, tuple[int, list[AdoptionChange]]]:
        months, report = parse_adoption(path, register, today)
        held = {slug: month for slug, _, month in adoption_months(conn)}
        changes = [AdoptionChange(slug, name, held.get(slug), months[slug])
                   for slug, name in register.names.items()
                   if slug in months and held.get(slug) != months[slug]]
        return report, (len(months), changes)

    def write(conn: sa.Connection, parsed: tuple[int, list[AdoptionChange]]) -> None:
        store_adoption_months(conn, {change.slug: change.after for change in parsed[1]})

    report, (forces, changes) = write_if_valid(db_path, validate, write)
    return AdoptionResult(path.name, sha256_of(path), forces, changes, report)
