"""Which force monthly returns are in: on time, late, missing or not yet due.

A force-month *has a return* when the database holds an observation of a
force-return measure (a catalogue measure whose source is ``force_return``) for it,
or held one before a resubmission replaced it. The return *arrived* with the
earliest load, still in force (not rolled back), that supplied any of those values:
a correction sent later does not make a return that was on time late.

A return is due ``due_days`` days after its month ends. Loaded on or before the due
date it is *in*; after it, *late*. With nothing loaded it is *missing* once the due
date has passed and *not due* until then.

Home Office tables and computed measures (the completeness counts the loader adds)
are not returns and do not count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kpis.cache import ALL_FORCES
from kpis.domain.periods import add_months, last_complete_month, month_range
from kpis.engine.dataset import Dataset
from kpis.storage import schema
from kpis.storage.backend import Store, get_meta, query_frame

__all__ = [
    "DEFAULT_DUE_DAYS",
    "DEFAULT_MONTHS",
    "STATUSES",
    "cached_submissions",
    "coverage",
    "coverage_grid",
    "data_as_of",
    "latest_load_time",
    "load_coverage_frame",
    "load_history",
    "status_counts",
]

STATUS_IN = "in"
STATUS_LATE = "late"
STATUS_MISSING = "missing"
STATUS_NOT_DUE = "not due"
STATUSES = (STATUS_IN, STATUS_LATE, STATUS_MISSING, STATUS_NOT_DUE)
DEFAULT_MONTHS = 24
DEFAULT_DUE_DAYS = 15
FORCE_RETURN_SOURCE = "force_return"
SUBMISSION_COLUMNS = ["force_slug", "period_start", "loaded_at"]
SHORT_SHA_LENGTH = 12


def load_coverage_frame(conn: sa.Connection) -> pd.DataFrame:
    """When each force-month's return first arrived: force_slug, period_start, loaded_at.

    One row per force-month with any force-return value, current or superseded, from
    a load that has not been rolled back.
    """
    return_measures = sa.select(schema.measures.c.measure_id).where(
        schema.measures.c.source == FORCE_RETURN_SOURCE
    )
    current = schema.observations.c
    history = schema.observation_history.c
    # Superseded values count too: their load is when the return first arrived.
    supplied = sa.union_all(
        sa.select(current.force_slug, current.period_start, current.load_id)
        .where(current.measure_id.in_(return_measures)),
        sa.select(history.force_slug, history.period_start, history.load_id)
        .where(history.measure_id.in_(return_measures)),
    ).subquery("supplied")
    loads = schema.loads.c
    statement = (
        sa.select(supplied.c.force_slug, supplied.c.period_start,
                  sa.func.min(loads.loaded_at).label("loaded_at"))
        .select_from(supplied.join(schema.loads, supplied.c.load_id == loads.load_id))
        .where(loads.status == "loaded")
        .group_by(supplied.c.force_slug, supplied.c.period_start)
        .order_by(supplied.c.force_slug, supplied.c.period_start)
    )
    frame = query_frame(conn, statement)
    return pd.DataFrame({
        "force_slug": frame["force_slug"].astype(str),
        "period_start": pd.to_datetime(frame["period_start"]),
        "loaded_at": pd.to_datetime(frame["loaded_at"]),
    }, columns=SUBMISSION_COLUMNS)


def cached_submissions(store: Store, data_version: str) -> pd.DataFrame:
    """``load_coverage_frame`` for the published database, cached per data version.

    ``data_version`` is the version of the caller's dataset. If a load has landed since
    the dataset was read, the newer (current) frame is returned and kept under the
    version actually read.
    """
    read: dict[str, str] = {}

    def compute() -> pd.DataFrame:
        with store.connect() as conn:
            read["version"] = get_meta(conn, "data_version") or "0"
            return load_coverage_frame(conn)

    frame = store.derived.get(data_version, ALL_FORCES, "submissions", compute)
    if read and read["version"] != data_version:
        store.derived.get(read["version"], ALL_FORCES, "submissions", lambda: frame)
    return frame


def coverage(
    ds: Dataset,
    submissions: pd.DataFrame,
    months: int = DEFAULT_MONTHS,
    due_days: int = DEFAULT_DUE_DAYS,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """Every force's return status for each of the last ``months`` months to ``ds.as_of``.

    ``submissions`` is ``load_coverage_frame`` (or ``cached_submissions``) for the same
    database. With no data at all the months run to the last complete month before
    ``today``. One row per force the dataset shows (``ds.visible_forces``, in order) and
    month (oldest first):
    force_slug, force (name), period_start, due (date), loaded_at (NaT if none), status.
    """
    if months < 1:
        raise ValueError(f"months must be 1 or more, not {months}")
    today = today or dt.date.today()
    end = ds.as_of or last_complete_month(today)
    starts = month_range(add_months(end, -(months - 1)), end)
    due = [add_months(start, 1) - dt.timedelta(days=1) + dt.timedelta(days=due_days)
           for start in starts]
    forces = ds.visible_forces
    n_forces = len(forces)
    grid = pd.DataFrame({
        "force_slug": np.repeat(forces["slug"].astype(str).to_numpy(), len(starts)),
        "force": np.repeat(forces["name"].astype(str).to_numpy(), len(starts)),
        "period_start": pd.to_datetime(np.tile(np.array(starts, dtype="datetime64[D]"),
                                               n_forces)),
        "due": pd.to_datetime(np.tile(np.array(due, dtype="datetime64[D]"), n_forces)),
    })
    arrived = submissions[SUBMISSION_COLUMNS].assign(
        period_start=pd.to_datetime(submissions["period_start"]),
        loaded_at=pd.to_datetime(submissions["loaded_at"]),
    )
    frame = grid.merge(arrived, on=["force_slug", "period_start"], how="left")
    loaded = frame["loaded_at"].notna().to_numpy()
    # Due dates are whole days: a return loaded at any time on the due date is in.
    on_time = loaded & (frame["loaded_at"].dt.normalize() <= frame["due"]).to_numpy()
    overdue = (frame["due"] < pd.Timestamp(today)).to_numpy()
    frame["status"] = np.select(
        [on_time, loaded, overdue],
        [STATUS_IN, STATUS_LATE, STATUS_MISSING],
        default=STATUS_NOT_DUE,
    )
    return frame[["force_slug", "force", "period_start", "due", "loaded_at", "status"]]


def coverage_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """``coverage`` as a table of statuses: forces (by name) down, months across."""
    grid = frame.pivot(index="force", columns="period_start", values="status")
    return grid.reindex(index=frame["force"].drop_duplicates().to_list())


def status_counts(frame: pd.DataFrame, period_start: dt.date | None = None) -> dict[str, int]:
    """How many forces have each status for one month (by default the latest)."""
    if frame.empty:
        return dict.fromkeys(STATUSES, 0)
    month = pd.Timestamp(period_start) if period_start else frame["period_start"].max()
    counts = frame.loc[frame["period_start"] == month, "status"].value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES}


# How many loads the data page lists (the CLI's `flightdeck loads` lists them all).
LOAD_HISTORY_ROWS = 100


def load_history(ds: Dataset) -> pd.DataFrame:
    """The audit trail of loads, newest first, with a short checksum for display."""
    loads = ds.loads.sort_values("load_id", ascending=False, kind="stable")
    return loads.assign(sha_short=loads["sha256"].astype(str).str[:SHORT_SHA_LENGTH])


def latest_load_time(ds: Dataset) -> dt.datetime | None:
    """When the most recent load still in force was made (None if there is none)."""
    loaded = ds.loads.loc[ds.loads["status"] == "loaded", "loaded_at"]
    if loaded.empty:
        return None
    return pd.Timestamp(loaded.max()).to_pydatetime()


def data_as_of(ds: Dataset) -> str:
    """The data's as-of date in words: 'Data to September 2025, last loaded 15 October 2025'."""
    if ds.as_of is None:
        return "No data has been loaded yet."
    text = f"Data to {ds.as_of:%B %Y}"
    latest = latest_load_time(ds)
    if latest is not None:
        text += f", last loaded {latest.day} {latest:%B %Y} at {latest:%H:%M}"
    return text + "."
