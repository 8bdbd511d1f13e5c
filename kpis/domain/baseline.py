"""Where SPC limits come from: the ``--baseline`` a reader asks for.

Plain data, apart from the engine (numpy, pandas): the command line parses it while
its arguments are read, before ``flightdeck kpis`` forks its audit child
(kpis.background_audit), which must happen before the engine is imported.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIN_LIMIT_POINTS", "Baseline"]

# Making Data Count's least number of baseline points for limits: the default of
# kpis.engine.spc.SpcRules.min_points, and the least N of ``first:N``.
MIN_LIMIT_POINTS = 15


@dataclass(frozen=True)
class Baseline:
    """Where limits come from: ``nom`` (the default), ``all`` or ``first:N``."""

    kind: str = "nom"
    points: int | None = None

    @classmethod
    def parse(cls, text: str) -> Baseline:
        """``nom``, ``all`` or ``first:N`` (N of 15 or more); ValueError otherwise."""
        value = str(text).strip().lower()
        if value in ("nom", "all"):
            return cls(value)
        kind, _, count = value.partition(":")
        if kind == "first" and count.isdigit() and int(count) >= MIN_LIMIT_POINTS:
            return cls("first", int(count))
        raise ValueError(
            f"baseline {text!r} must be nom, all or first:N with N of "
            f"{MIN_LIMIT_POINTS} or more")

    def __str__(self) -> str:
        return f"first:{self.points}" if self.kind == "first" else self.kind
