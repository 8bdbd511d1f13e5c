"""The view state every page shares, kept in the URL query string.

``?force=kent&period=2025-09&comparator=region`` — so that any view can be
bookmarked, shared and reloaded exactly. Unknown values fall back to defaults, and the
page says so (``ViewState.notices``).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qs, urlencode

from kpis.domain.periods import format_month, long_month, parse_month
from kpis.engine.dataset import Dataset
from kpis.engine.views import (
    COMPARATOR_NATIONAL,
    COMPARATOR_REGION,
    comparator_area,
    default_period,
)
from kpis.settings import NATIONAL_SLUG

Default = TypeVar("Default", bound=dt.date | None)


@dataclass(frozen=True)
class ViewState:
    force: str
    period: dt.date | None
    comparator: str  # "national", "region" or a peer group id
    # What the URL asked for that could not be shown, and what is shown instead.
    notices: tuple[str, ...] = field(default=(), compare=False)

    def query(self, **changes: str) -> str:
        if not changes:  # every tile's and row's link: encoded once per view
            return self._query
        return self._encoded(changes)

    @functools.cached_property
    def _query(self) -> str:
        return self._encoded({})

    def _encoded(self, changes: dict[str, str]) -> str:
        values = {
            "force": self.force,
            "period": format_month(self.period) if self.period else "",
            "comparator": self.comparator,
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v})

    def comparator_area(self, ds: Dataset) -> str | None:
        """The area the selected force is compared with (None: nothing to compare)."""
        return comparator_area(ds, self.force, self.comparator)

    def comparator_label(self, ds: Dataset) -> str:
        area = self.comparator_area(ds)
        return ds.comparator_label(area) if area else ""


def _quoted(text: str) -> str:
    """A value from the URL, quoted and cut short, for a notice."""
    return f"“{text if len(text) <= 40 else text[:40] + '…'}”"


def read_state(ds: Dataset, force: str | None = None, period: str | None = None,
               comparator: str | None = None) -> ViewState:
    """The view the URL asks for; what it asks that cannot be shown falls back to the
    default, and ``notices`` says so (never silently another force or month)."""
    notices = []
    # Only forces this user may see: a crafted URL for another force falls back (the
    # notice does not say whether such a force exists).
    forces = set(ds.visible_forces["slug"]) | {NATIONAL_SLUG}
    # With no force asked for, a force-scoped account opens on its own force.
    home = ds.scope if ds.scope in forces else NATIONAL_SLUG
    chosen_force = force if force in forces else home
    if force and chosen_force != force:
        notices.append(f"There is no force {_quoted(force)} you can see, so "
                       f"{ds.area_names.get(home, home)} is shown.")
    # By default the latest month complete for most KPIs (kpis.engine.views), so one
    # force's early return does not open every page on a month others have not reached.
    chosen_period = default_period(ds).period
    asked = month_or(period, None)
    first = ds.cube.periods[0].date() if len(ds.cube.periods) else None
    if asked is not None and ds.as_of is not None and first is not None and (
            first <= asked <= ds.as_of):
        chosen_period = asked
    elif period and chosen_period is not None:
        why = (f"{_quoted(period)} is not a month written YYYY-MM" if asked is None
               else f"there is no data for {long_month(asked)}")
        notices.append(f"{why[0].upper()}{why[1:]}, so {long_month(chosen_period)} is shown.")
    groups = set(ds.areas.loc[ds.areas["kind"] == "user", "area_id"])
    if comparator not in ({COMPARATOR_NATIONAL, COMPARATOR_REGION} | groups):
        if comparator:
            notices.append(f"There is no comparator {_quoted(comparator)}, so England and "
                           "Wales is used.")
        comparator = COMPARATOR_NATIONAL
    return ViewState(chosen_force, chosen_period, comparator, tuple(notices))


def month_or(text: str | None, default: Default) -> dt.date | Default:
    """The month ``text`` names (YYYY-MM), or ``default`` when it names none."""
    try:
        return parse_month(text or "")
    except ValueError:
        return default


def merged_query(search: str | None, defaults: dict[str, str] | None = None,
                 **changes: str | None) -> str | None:
    """``search`` with ``changes`` applied (None removes a key), or None if nothing changes.

    Controls fire when a page renders as well as when a user acts; comparing the
    meaning of the query, not its text, stops two callbacks rewriting the URL in turn,
    and a value equal to the default of a key the URL leaves out changes nothing (so a
    first visit is not rendered twice).
    """
    current = read_query(search)
    updated = dict(current)
    for key, value in changes.items():
        if value and not (key not in current and (defaults or {}).get(key) == value):
            updated[key] = value
        elif not value:
            updated.pop(key, None)
    if updated == current:
        return None
    return "?" + urlencode(updated)


def read_query(search: str | None) -> dict[str, str]:
    """The URL query as a plain dict (first value of each key)."""
    return {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items()}
