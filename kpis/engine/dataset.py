"""Everything the KPI engine needs, read from the database once per data version.

Observations are held as a dense cube (measure x force x month, NaN where nothing was
supplied) with a 0/1 membership matrix of areas (forces, England and Wales, peer groups)
over forces, which makes every KPI a vectorised sum, matrix product and division. Each
KPI's area-by-period arrays are computed on first use and kept (``Dataset.memo``, used by
:func:`kpis.engine.measures.arrays_of`): a dataset never changes; a new data version is
a new dataset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from kpis.cache import ALL_FORCES, VersionedCache
from kpis.domain.catalogue import Catalogue, KpiDefinition
from kpis.engine.disclosure import aggregates_to_withhold
from kpis.settings import NATIONAL_SLUG

# Views derived from one dataset (rankings, funnels) kept per process: a few thousand at most.
MEMO_SIZE = 4096
TABLE_SIZE = 256
# Flight-deck tables are some 0.1-3 MB each (every KPI and month of a view's areas):
# bounded by bytes too, so a process's memory stays flat however many views are asked.
# 8 MB (12 before): the callbacks' p95 and the load test's are the same (bench_app.py,
# bench_load.py; the response cache answers repeat views), and a worker holds 4 MB less.
TABLE_BYTES = 8 * 2**20


def _table_cache() -> VersionedCache[Any]:
    return VersionedCache(TABLE_SIZE, maxbytes=TABLE_BYTES)



@dataclass(frozen=True)
class Cube:
    """Observations as dense arrays: measure x force x month, plus area membership.

    Area rows are ordered: the forces first (in ``Dataset.forces`` order), then England
    and Wales, then the peer groups. Quarterly measures sit on the month grid at the
    first month of each quarter.
    """

    periods: pd.DatetimeIndex
    quarter_columns: np.ndarray  # bool per month: is it the first month of a quarter
    values: np.ndarray  # measures x forces x months
    measure_index: dict[str, int]
    membership: np.ndarray  # areas x forces (0/1)
    area_ids: np.ndarray
    area_index: dict[str, int]
    population: np.ndarray  # forces x months: the population of each month's year
    peer_rows: np.ndarray  # per area row: its region's row (forces), else -1

    def measure(self, measure_id: str) -> np.ndarray:
        index = self.measure_index.get(measure_id)
        if index is None:
            return np.full(self.values.shape[1:], np.nan)
        return self.values[index]


def population_grid(forces: pd.DataFrame, periods: pd.DatetimeIndex,
                    estimates: pd.DataFrame | None = None) -> np.ndarray:
    """Forces x months: each force's population in the month's calendar year.

    ``estimates`` (force_slug, year, population: the ONS mid-year estimates loaded) give
    the figure for their year; a year without one takes the force's nearest estimated
    year (the latest before it, else the first after: estimates are published a year or
    more late); a force with none keeps the approximate figure of ``forces``.
    """
    grid = np.repeat(forces["population"].to_numpy(dtype=float)[:, None], len(periods), axis=1)
    if estimates is None or estimates.empty or not len(periods):
        return grid
    years = periods.year.to_numpy()
    rows = pd.Index(forces["slug"]).get_indexer(estimates["force_slug"])
    known = estimates[rows >= 0].assign(row=rows[rows >= 0]).sort_values(["row", "year"])
    for row, group in known.groupby("row"):
        have = group["year"].to_numpy()
        values = group["population"].to_numpy(dtype=float)
        before = np.searchsorted(have, years, side="right") - 1
        pick = np.where(before >= 0, before, 0)  # nearest earlier, else the first
        grid[int(row)] = values[pick]
    return grid


def build_cube(forces: pd.DataFrame, areas: pd.DataFrame, members: pd.DataFrame,
               observations: pd.DataFrame, populations: pd.DataFrame | None = None) -> Cube:
    force_ids = list(forces["slug"])
    force_pos = {slug: i for i, slug in enumerate(force_ids)}
    # Hash lookups on whole columns (Index.get_indexer, factorize): a per-row dict map
    # over string columns costs far more than everything else here.
    force_rows = pd.Index(force_ids).get_indexer(observations["force_slug"])
    obs = observations[force_rows >= 0]
    force_rows = force_rows[force_rows >= 0]
    if obs.empty:
        periods = pd.DatetimeIndex([])
    else:
        periods = pd.date_range(obs["period_start"].min(), obs["period_start"].max(),
                                freq="MS")
    measure_codes, measure_ids = pd.factorize(obs["measure_id"], sort=True)
    measure_index = {str(m): i for i, m in enumerate(measure_ids)}
    values = np.full((len(measure_index), len(force_ids), len(periods)), np.nan)
    if len(obs):
        month_no = (obs["period_start"].dt.year * 12 + obs["period_start"].dt.month).to_numpy()
        first = periods[0].year * 12 + periods[0].month
        values[measure_codes, force_rows, month_no - first] = obs["value"].to_numpy(dtype=float)
    aggregate_ids = [a for a in areas["area_id"] if a not in force_pos]
    area_ids = np.array(force_ids + aggregate_ids, dtype=object)
    area_index = {a: i for i, a in enumerate(area_ids)}
    membership = np.zeros((len(area_ids), len(force_ids)))
    membership[np.arange(len(force_ids)), np.arange(len(force_ids))] = 1.0
    for area_id, force_slug in zip(members["area_id"], members["force_slug"], strict=True):
        if area_id in area_index and force_slug in force_pos:
            membership[area_index[area_id], force_pos[force_slug]] = 1.0
    peer_rows = np.full(len(area_ids), -1)
    for area_id, force_slug in zip(members["area_id"], members["force_slug"], strict=True):
        if str(area_id).startswith("region-") and force_slug in force_pos:
            peer_rows[force_pos[force_slug]] = area_index[area_id]
    return Cube(
        periods=periods,
        quarter_columns=np.asarray(periods.month % 3 == 1, dtype=bool),
        values=values,
        measure_index=measure_index,
        membership=membership,
        area_ids=area_ids,
        area_index=area_index,
        population=population_grid(forces, periods, populations),
        peer_rows=peer_rows,
    )


@dataclass(frozen=True)
class Dataset:
    """One data version: catalogue, reference data, observations, and cached KPI arrays."""

    catalogue: Catalogue
    forces: pd.DataFrame  # the 43 territorial forces: slug, name, region, population, nom_adoption
    areas: pd.DataFrame  # area_id, name, kind (force|national|region|user), population
    members: pd.DataFrame  # area_id (aggregate), force_slug
    is_demo: bool
    data_version: str
    loads: pd.DataFrame
    cube: Cube
    # Results derived from this dataset (KPI arrays, tables, rankings, funnels): one
    # cache design for all (kpis.cache), keyed by data version and scope.
    _memo: VersionedCache[Any] = field(default_factory=lambda: VersionedCache(MEMO_SIZE),
                                       repr=False, compare=False)
    # Flight-deck tables are larger and more varied (one per view): a smaller cache.
    _tables: VersionedCache[Any] = field(default_factory=_table_cache,
                                         repr=False, compare=False)
    # Force scoping (``scoped``): the one force whose force-level figures this dataset
    # shows, and the unscoped dataset its aggregates are computed from.
    scope: str | None = None
    source: Dataset | None = field(default=None, repr=False, compare=False)

    def scoped(self, force: str | None) -> Dataset:
        """This data as a user limited to ``force`` may see it (``None``: everything).

        Every other force's rows are blanked at the source: their observations in the
        cube, and their rows of every KPI's arrays (values, counts, ranks: missing;
        present: False). Aggregates (England and Wales, regions, peer groups) and the
        scoped force's own rank are computed from all forces first, so they are the
        same numbers everyone sees; the count of forces ranked stays.
        """
        if force is None:
            return self
        if force not in self.cube.area_index or force not in set(self.forces["slug"]):
            raise ValueError(f"unknown force {force!r}")
        source = self.source or self
        hidden = np.asarray(self.forces["slug"] != force)
        values = source.cube.values.copy()
        values[:, hidden, :] = np.nan
        cube = replace(source.cube, values=values)
        # Only the loads that hold figures for this force alone (a Home Office table
        # covers every force: its file name and loader are not this user's business).
        own = source.loads["forces"].map(lambda forces: set(forces.split(",")) == {force})
        loads = source.loads[own].reset_index(drop=True)
        return replace(source, cube=cube, loads=loads, scope=force, source=source,
                       _memo=VersionedCache(MEMO_SIZE), _tables=_table_cache())

    def with_values(self, changes: pd.DataFrame, data_version: str,
                    forces: Sequence[str] | None = None) -> Dataset:
        """This data (unscoped) with ``changes`` applied in memory: what a load would make
        of it, for a preview. ``changes``: force_slug, measure_id, period_start, value
        (NaN: the stored value withdrawn). Months beyond the data extend the grid (each
        force's population carried from the nearest month held); the new dataset has
        ``data_version`` and caches of its own.

        ``forces``: keep only these forces (and England and Wales as their total, with
        no peer groups): each force's own series, SPC and assurance are exactly as in
        the whole data, at a fraction of the cost; its comparators and ranks are not.
        """
        source = self.source or self
        cube = source.cube
        kept = source.forces
        areas, members = source.areas, source.members
        rows = np.arange(len(kept))
        if forces is not None:
            rows = np.flatnonzero(kept["slug"].isin(list(forces)).to_numpy())
            kept = kept.iloc[rows].reset_index(drop=True)
            areas = areas[areas["area_id"].isin([*kept["slug"], NATIONAL_SLUG])]
            areas = areas.reset_index(drop=True)
            members = pd.DataFrame({"area_id": NATIONAL_SLUG, "force_slug": kept["slug"]})
        slugs = pd.Index(kept["slug"])
        changes = changes[slugs.get_indexer(changes["force_slug"]) >= 0]
        months = pd.to_datetime(changes["period_start"])
        periods = cube.periods
        if len(changes):
            stamps = [months.min(), months.max(), *(periods[[0, -1]] if len(periods) else [])]
            periods = pd.date_range(min(stamps), max(stamps), freq="MS")
        measure_index = dict(cube.measure_index)
        for measure_id in sorted(set(changes["measure_id"]) - set(measure_index)):
            measure_index[measure_id] = len(measure_index)
        values = np.full((len(measure_index), len(kept), len(periods)), np.nan)
        if len(cube.periods):
            before = periods.get_loc(cube.periods[0])
            after = len(periods) - before - len(cube.periods)
            values[: len(cube.measure_index), :, before: before + len(cube.periods)] = (
                cube.values[:, rows, :])
            population = np.pad(cube.population[rows], ((0, 0), (before, after)),
                                mode="edge")
        else:
            population = population_grid(kept, periods)
        first = periods[0].year * 12 + periods[0].month if len(periods) else 0
        values[[measure_index[m] for m in changes["measure_id"]],
               slugs.get_indexer(changes["force_slug"]),
               (months.dt.year * 12 + months.dt.month - first).to_numpy()] = (
            changes["value"].to_numpy(dtype=float))
        if forces is None:
            grown = replace(cube, periods=periods, values=values, measure_index=measure_index,
                            quarter_columns=np.asarray(periods.month % 3 == 1, dtype=bool),
                            population=population)
        else:
            grown = replace(build_cube(kept, areas, members, pd.DataFrame(
                columns=["force_slug", "period_start", "measure_id", "value"])),
                periods=periods, values=values, measure_index=measure_index,
                quarter_columns=np.asarray(periods.month % 3 == 1, dtype=bool),
                population=population)
        return replace(source, cube=grown, forces=kept, areas=areas, members=members,
                       data_version=data_version, scope=None, source=None,
                       _memo=VersionedCache(MEMO_SIZE), _tables=_table_cache())

    def visible(self, area: str) -> bool:
        """May figures of ``area`` be shown? Every area, to a user who sees every force;
        to a scoped user, their own force and the aggregates not withheld from them."""
        if self.scope is None or area == self.scope:
            return True
        return area not in self._force_slugs and area not in self.withheld_areas

    @cached_property
    def withheld_areas(self) -> frozenset[str]:
        """The aggregates a scoped user may not see: with the others and their own
        force's figures, they would give another force's figures exactly (London region
        minus the Metropolitan Police is the City of London Police; see
        :func:`kpis.engine.disclosure.aggregates_to_withhold`)."""
        if self.scope is None:
            return frozenset()
        cube = self.cube
        forces = len(self.forces)
        aggregates = list(range(forces, len(cube.area_ids)))
        sizes = cube.membership.sum(axis=1)
        order = {"user": 0, "region": 1, "national": 2}
        preference = sorted(aggregates, key=lambda row: (
            order.get(self.area_kinds.get(str(cube.area_ids[row]), "user"), 0), sizes[row]))
        withheld = aggregates_to_withhold(cube.membership, aggregates,
                                          cube.area_index[self.scope], preference)
        return frozenset(str(cube.area_ids[row]) for row in withheld)

    @cached_property
    def hidden_rows(self) -> np.ndarray:
        """The area rows a scoped user may not see: other forces and withheld aggregates."""
        if self.scope is None:
            return np.array([], dtype=int)
        others = np.flatnonzero(np.asarray(self.forces["slug"] != self.scope))
        withheld = [self.cube.area_index[a] for a in sorted(self.withheld_areas)]
        return np.concatenate([others, np.asarray(withheld, dtype=int)]).astype(int)

    @cached_property
    def _force_slugs(self) -> frozenset[str]:
        return frozenset(self.forces["slug"])

    @cached_property
    def visible_forces(self) -> pd.DataFrame:
        """The forces whose figures this dataset shows (all 43, or the scoped one)."""
        if self.scope is None:
            return self.forces
        return self.forces[self.forces["slug"] == self.scope].reset_index(drop=True)

    @cached_property
    def forces_label(self) -> str:
        """The forces a chart of every force shows, in words ("all forces", or the one)."""
        return "all forces" if self.scope is None else self.area_names[self.scope]

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A result derived from this dataset, computed once: a dataset never changes, and
        a new data version is a new dataset. Results must be treated as read-only."""
        return self._memo.get(self.data_version, self.scope or ALL_FORCES, key, compute)

    def memo_table(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """As :meth:`memo`, in the cache kept for flight-deck tables."""
        return self._tables.get(self.data_version, self.scope or ALL_FORCES, key, compute)

    def peek_table(self, key: Hashable) -> Any:
        """The flight-deck table kept under ``key``, or None."""
        return self._tables.peek(self.data_version, self.scope or ALL_FORCES, key)

    @cached_property
    def kpis(self) -> dict[str, KpiDefinition]:
        """The latest published version of each KPI, in catalogue order."""
        return {k.kpi_id: k for k in self.catalogue.published()}

    @cached_property
    def region_of(self) -> dict[str, str]:
        """Each force's regional peer group id."""
        regional = self.members[self.members["area_id"].str.startswith("region-")]
        return dict(zip(regional["force_slug"], regional["area_id"], strict=True))

    @cached_property
    def area_names(self) -> dict[str, str]:
        return dict(zip(self.areas["area_id"], self.areas["name"], strict=True))

    @cached_property
    def area_kinds(self) -> dict[str, str]:
        """Each area's kind: force, national, region or user (a most-similar group)."""
        return dict(zip(self.areas["area_id"], self.areas["kind"], strict=True))

    def comparator_label(self, area: str) -> str:
        """A comparator's label: "North East (region)", "Group (peer group)", or the name."""
        name = self.area_names.get(area, area)
        kind = self.area_kinds.get(area, "")
        return name + {"region": " (region)", "user": " (peer group)"}.get(kind, "")

    @cached_property
    def as_of(self) -> dt.date | None:
        """The latest month any force has data for (any measure)."""
        values = self.cube.values
        if not values.size:
            return None
        has_data = ~np.isnan(values).all(axis=(0, 1))
        if not has_data.any():
            return None
        return self.cube.periods[np.flatnonzero(has_data)[-1]].date()

    @cached_property
    def adoption_by_area(self) -> np.ndarray:
        """Each area row's NOM adoption month (datetime64; NaT for aggregates and unknown)."""
        adoption = np.full(len(self.cube.area_ids), np.datetime64("NaT"), dtype="datetime64[us]")
        if "nom_adoption" in self.forces and len(self.forces):
            adoption[: len(self.forces)] = pd.to_datetime(
                self.forces["nom_adoption"]).to_numpy(dtype="datetime64[us]")
        return adoption
