"""Shaped data for the pages and exports: one KPI across forces, one force over time.

These functions only select and arrange what ``kpis.engine.measures`` computed (and run the
funnel arithmetic); the presentation layer draws them as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis.domain.catalogue import KpiDefinition
from kpis.engine.dataset import Dataset
from kpis.engine.funnel import funnel, funnel_curve
from kpis.engine.measures import area_rows, arrays_of, flight_deck_table
from kpis.settings import NATIONAL_SLUG

FUNNEL_UNITS = ("percent", "count", "per_100k")


@dataclass(frozen=True)
class DefaultPeriod:
    """The month every page opens on, and why (shown beside the period selector)."""

    period: dt.date | None
    reason: str


def default_period(ds: Dataset) -> DefaultPeriod:
    """The latest month complete for most published KPIs that have data.

    A KPI is complete in a month when England and Wales is (no force that reported it in
    the year before is missing; for a quarterly KPI, the quarter the month falls in).
    One force's first return for a new month does not move every page to a month that
    others have not reached. An install holding one force's returns only opens on that
    force's latest month.
    """
    return ds.memo(("default_period",), lambda: _default_period(ds))


def _default_period(ds: Dataset) -> DefaultPeriod:
    if ds.as_of is None:
        return DefaultPeriod(None, "No data loaded yet.")
    cube = ds.cube
    national = cube.area_index[NATIONAL_SLUG]
    forces = len(ds.forces)
    with_data = ~np.isnan(cube.values[:, :forces, :]).all(axis=(0, 2))
    if int(with_data.sum()) <= 1:
        return DefaultPeriod(ds.as_of, "The latest month of data.")
    months = cube.periods
    votes = np.zeros(len(months), dtype=np.int64)
    voters = 0
    for kpi_id in ds.kpis:
        arrays = arrays_of(ds, kpi_id)
        complete = arrays.complete[national] & arrays.present[national]
        if not complete.any():
            continue
        voters += 1
        # Each month counts as complete when its KPI period (month or quarter) is.
        column = np.searchsorted(arrays.stamps, months.to_numpy(), side="right") - 1
        ok = (column >= 0) & complete.take(np.maximum(column, 0))
        if arrays.kpi.periodicity == "quarterly":
            # The quarter a month falls in: a month after the last quarter is not in it.
            starts = arrays.stamps.take(np.maximum(column, 0), mode="clip")
            ok &= months.to_numpy() < starts + np.timedelta64(92, "D")
        votes += ok
    if voters == 0:
        return DefaultPeriod(ds.as_of, "The latest month of data.")
    usable = np.flatnonzero((votes * 2 > voters) & (months.to_numpy() <= np.datetime64(ds.as_of)))
    if not len(usable):
        return DefaultPeriod(ds.as_of, "The latest month of data.")
    chosen = months[usable[-1]].date()
    if chosen == ds.as_of:
        return DefaultPeriod(chosen, "The latest month of data, complete for most KPIs.")
    return DefaultPeriod(chosen, (
        f"The latest month complete for most KPIs; later months do not yet have every "
        f"force's return (data runs to {ds.as_of:%B %Y})."))


def _present_until(ds: Dataset, kpi_id: str, area: str, period: dt.date | None
                   ) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The KPI's periods, and the positions of those with data for ``area`` not after
    ``period`` (None: every one), oldest first."""
    arrays = arrays_of(ds, kpi_id)
    present = arrays.present[ds.cube.area_index[area]]
    if period is not None:
        # On the periods' datetime64 values: comparing the DatetimeIndex with a Timestamp
        # cost ten times as much, and the flight deck asks for every KPI.
        present = present & (arrays.stamps <= np.datetime64(period))
    return arrays.periods, np.flatnonzero(present)


def period_on_or_before(ds: Dataset, kpi_id: str, period: dt.date | None,
                        area: str = NATIONAL_SLUG) -> dt.date | None:
    """The KPI's latest period with data for ``area`` not after ``period``."""
    periods, cells = _present_until(ds, kpi_id, area, period)
    return periods[cells[-1]].date() if len(cells) else None


def recent_start(ds: Dataset, kpi_ids: Sequence[str], area: str, end: dt.date | None,
                 points: Mapping[str, int]) -> dt.date | None:
    """The first period a table of ``kpi_ids`` must hold so that, for each KPI, it has
    ``area``'s last ``points[periodicity]`` rows not after ``end`` (its latest row among
    them); None when no KPI has a row for ``area`` by then.

    A view that shows each KPI's latest figure and a short trend (the flight deck's
    tiles) asks for its table from here instead of from the first month of data: the
    same rows for what it shows, and a table whose size does not grow with the history
    (bench/bench_growth.py). The rows a table holds are the periods with data, so the
    trend's points are counted in them, as the view counts them."""
    earliest: dt.date | None = None
    for kpi_id in kpi_ids:
        periods, cells = _present_until(ds, kpi_id, area, end)
        if len(cells):
            wanted = points[ds.kpis[kpi_id].periodicity]
            first = periods[cells[max(0, len(cells) - wanted)]].date()
            earliest = first if earliest is None else min(earliest, first)
    return earliest


def force_rows(ds: Dataset, kpi_id: str, period: dt.date, members: list[str] | None = None,
               *, suppress: bool = False) -> pd.DataFrame:
    """Every force's row for one KPI and period (optionally only ``members``), best first.

    ``suppress``: disclosure control's rows; a force whose figure is withheld is left out
    (and the ranks are among the forces shown)."""
    key = ("force_rows", kpi_id, period, tuple(members) if members is not None else None,
           suppress)
    return ds.memo(key, lambda: _force_rows(ds, kpi_id, period, members, suppress))


def _force_rows(ds: Dataset, kpi_id: str, period: dt.date, members: list[str] | None,
                suppress: bool) -> pd.DataFrame:
    table = flight_deck_table(ds, [kpi_id], list(ds.forces["slug"]), start=period, end=period,
                              spc=None, suppress=suppress)
    # The figure ranked: the value, or a count's rate (none where its base is 0).
    table = table[table["comparison"].notna()]
    if members is not None:
        table = table[table["area"].isin(members)]
    table = table.assign(name=table["area"].map(ds.area_names))
    # Best first by the figure ranked (per its base for a count; the rank's order:
    # a period whose national figure is incomplete has no ranks, but is still read best
    # first), then by name.
    descending = ds.kpis[kpi_id].polarity != "lower"
    return table.sort_values(["comparison", "name"], ascending=[not descending, True]
                             ).reset_index(drop=True)


def group_members(ds: Dataset, group: str | None) -> list[str] | None:
    """Forces in a peer group (None: all forces)."""
    if not group or group == NATIONAL_SLUG:
        return None
    members = ds.members[ds.members["area_id"] == group]["force_slug"]
    return list(members)


@dataclass(frozen=True)
class FunnelData:
    points: pd.DataFrame  # label, name, numerator, denominator, value, limits, position
    curve: pd.DataFrame  # n, centre, limits
    centre: float
    period: dt.date
    withheld: int = 0  # forces left out by disclosure control


def kpi_funnel(ds: Dataset, kpi: KpiDefinition, period: dt.date,
               members: list[str] | None = None, *,
               suppress: bool = False) -> FunnelData | None:
    """Funnel plot data for a share KPI: each force against the England and Wales share.

    ``suppress``: forces whose figure disclosure control withholds are left out
    (``withheld`` counts them); when England and Wales' own figure is withheld there is
    no centre to draw around: the data has no points and a NaN centre."""
    key = ("funnel", kpi.kpi_id, period, tuple(members) if members is not None else None,
           suppress)
    return ds.memo(key, lambda: _kpi_funnel(ds, kpi, period, members, suppress))


def _kpi_funnel(ds: Dataset, kpi: KpiDefinition, period: dt.date,
                members: list[str] | None, suppress: bool) -> FunnelData | None:
    """A share: exact binomial limits around the England and Wales share. A count or a
    rate per 100,000: Poisson limits around the pooled England and Wales rate per its
    base (100,000 people of the period's year, or the catalogue's base measure)."""
    if kpi.unit not in FUNNEL_UNITS:
        return None
    rate = kpi.unit != "percent"
    everyone = force_rows(ds, kpi.kpi_id, period)
    rows = force_rows(ds, kpi.kpi_id, period, suppress=suppress)
    if ds.scope is not None and not ds.catalogue.is_open_data(kpi) and members is None:
        # A scoped account's own force, with the aggregates it may see beside it (its
        # region and peer groups): never another force's dot, whose size would name it.
        shown = areas_of_scope(ds)
        if shown:
            extra = flight_deck_table(ds, [kpi.kpi_id], shown, start=period, end=period,
                                      spc=None, suppress=suppress)
            rows = pd.concat([rows, extra.assign(name=extra["area"].map(ds.area_names))],
                             ignore_index=True)
    # A rate is counted over its base: the population, or the catalogue's base measure.
    size = "rate_base" if rate else "denominator"
    usable = everyone[(everyone[size] > 0) & everyone["numerator"].notna()]
    rows = rows[(rows[size] > 0) & rows["numerator"].notna()]
    if usable.empty:
        return None
    wanted = set(usable["area"]) if members is None else set(usable["area"]) & set(members)
    withheld = len(wanted - set(rows["area"]))
    national = flight_deck_table(ds, [kpi.kpi_id], [NATIONAL_SLUG], start=period, end=period,
                                 spc=None, suppress=suppress)
    centre = float(national["comparison" if rate else "value"].iloc[0])
    if rows.empty or np.isnan(centre):
        return FunnelData(rows.iloc[0:0], pd.DataFrame(), float("nan"), period, withheld)
    options = {"method": "poisson", "per": float(kpi.comparison_per)} if rate else {}
    points = funnel(rows["numerator"], rows[size], rows["area"], centre=centre, **options)
    points["name"] = points["label"].map(ds.area_names)
    if members is not None:
        points = points[points["label"].isin(members)]
    curve = funnel_curve(centre, float(rows[size].max()) * 1.1,
                         n_min=max(1.0, float(rows[size].min()) * (0.5 if rate else 1)),
                         **options)
    curve["centre"] = centre
    return FunnelData(points.reset_index(drop=True), curve, centre, period, withheld)


def areas_of_scope(ds: Dataset) -> list[str]:
    """The aggregates a force-scoped account may see that its force is part of (its
    region and peer groups; England and Wales aside), in the members' order."""
    groups = ds.members.loc[ds.members["force_slug"] == ds.scope, "area_id"]
    return [a for a in dict.fromkeys(groups) if a != NATIONAL_SLUG and ds.visible(a)]


def last_loaded(ds: Dataset, area: str) -> dt.date | None:
    """When figures for ``area`` were last loaded (a force's own returns, or any load for
    an aggregate); None when nothing has been. Worked out for every force at once, once
    per dataset (the flight deck's headline asks on the first view of each force)."""
    by_force, overall = ds.memo(("last_loaded",), lambda: _last_loaded(ds))
    return by_force.get(area, overall)  # a force with no load of its own: None


def _last_loaded(ds: Dataset) -> tuple[dict[str, dt.date | None], dt.date | None]:
    """Each force's latest load holding its figures (None: none), and the latest load."""
    loads = ds.loads[ds.loads["status"] == "loaded"] if "status" in ds.loads else ds.loads
    by_force: dict[str, dt.date | None] = dict.fromkeys(ds.forces["slug"])
    for listed, when in zip(loads["forces"], loads["loaded_at"], strict=True):
        day = pd.Timestamp(when).date()
        for force in str(listed).split(","):
            if force in by_force:
                current = by_force[force]
                by_force[force] = day if current is None else max(current, day)
    overall = None if loads.empty else pd.Timestamp(loads["loaded_at"].max()).date()
    return by_force, overall


#: The scrutiny groups, in the order a meeting takes them.
SCRUTINY_GROUPS: tuple[tuple[str, str], ...] = (
    ("concern", "Special cause concerns"),
    ("failing", "Consistently failing the target"),
    ("improvement", "Special cause improvements"),
)


def scrutiny_rows(table: pd.DataFrame, ds: Dataset, since: dt.date, until: dt.date
                  ) -> pd.DataFrame:
    """What a scrutiny meeting takes, in its order: KPIs with a special-cause concern
    since the previous meeting, then those consistently failing their target now, then
    those with a special-cause improvement; each in catalogue order.

    ``table`` is one force's flight-deck table up to ``until``. Columns: kpi, group, the
    latest signal and its rules (codes), ``then`` (the row at the previous meeting:
    the latest period on or before ``since``) and ``now`` (the latest row) as records.
    """
    window = table[(table["period_start"] > pd.Timestamp(since))
                   & (table["period_start"] <= pd.Timestamp(until))]
    rows = []
    for position, kpi_id in enumerate(ds.kpis):
        series = table[table["kpi"] == kpi_id]
        if series.empty:
            continue
        now = series.iloc[-1].to_dict()
        earlier = series[series["period_start"] <= pd.Timestamp(since)]
        then = earlier.iloc[-1].to_dict() if not earlier.empty else None
        signals = window[(window["kpi"] == kpi_id)
                         & window["variation"].isin(["concern", "improvement"])]
        concern = signals[signals["variation"] == "concern"]
        if not concern.empty:
            group, signal = "concern", concern.iloc[-1].to_dict()
        elif now.get("assurance") == "fail" and ds.kpis[kpi_id].target is not None:
            group, signal = "failing", (signals.iloc[-1].to_dict() if not signals.empty
                                        else None)
        elif not signals.empty:
            group, signal = "improvement", signals.iloc[-1].to_dict()
        else:
            continue
        rows.append({"kpi": kpi_id, "group": group, "position": position, "signal": signal,
                     "then": then, "now": now})
    order = {code: i for i, (code, _) in enumerate(SCRUTINY_GROUPS)}
    rows.sort(key=lambda r: (order[r["group"]], r["position"]))
    return pd.DataFrame(rows, columns=["kpi", "group", "position", "signal", "then", "now"])


def latest_comparison(table: pd.DataFrame, area: str) -> pd.DataFrame:
    """Each KPI's latest row for ``area`` with its England and Wales and peer values."""
    rows = area_rows(table, area)
    return rows.groupby("kpi", sort=False).tail(1).reset_index(drop=True)


#: The comparator choices every view offers, besides a peer group id.
COMPARATOR_NATIONAL = "national"
COMPARATOR_REGION = "region"


def comparator_area(ds: Dataset, force: str, comparator: str) -> str | None:
    """The area ``force`` is compared with (None: nothing to compare): England and
    Wales, the force's region, or the peer group named."""
    if comparator == COMPARATOR_NATIONAL:
        return None if force == NATIONAL_SLUG else NATIONAL_SLUG
    if comparator == COMPARATOR_REGION:
        return ds.region_of.get(force, NATIONAL_SLUG if force != NATIONAL_SLUG else None)
    return comparator

