"""Board packs built as background jobs, and the cache of finished packs.

A pack takes seconds (its charts are drawn by Chromium), so the dashboard never builds
one on a web thread: :func:`pack_job` runs in a child process of the server's export
runner (:class:`kpis.jobs.JobRunner` with a small pool of spawned children; each opens
the database itself, read-only, after it starts, and keeps its own warm chart renderer,
so one pack never holds another person's chart download). The job interface (a task
function, a job folder with its status file, :func:`kpis.jobs.cancel`) is what a
national deployment puts on Celery workers instead.

Finished packs are cached (:func:`cache_key`) by everything that decides their bytes:
force, period, format, options, marking and disclosure control, the person's scope, the
data version (which moves with every load and every annotation) and the day produced
(which decides what is overdue). A second request for the same pack is a file copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kpis.domain.access import Principal
from kpis.engine.disclosure import suppression_required
from kpis.jobs import Progress, cancel_requested
from kpis.settings import as_location

__all__ = ["CACHE_LIMIT", "PackRequest", "cache_key", "exports_root", "pack_job"]

#: Finished packs kept in the cache; the oldest go first.
CACHE_LIMIT = 60
EXPORTS_FOLDER = ".exports"
CACHE_FOLDER = "cache"
RESULT_FILE = "pack"


@dataclasses.dataclass(frozen=True)
class PackRequest:
    """Who asked for which pack, from which database: everything a pack job needs."""

    db_path: str
    security_path: str
    principal: Principal
    address: str
    force: str
    period: dt.date
    fmt: str
    name: str  # the file name, without its suffix
    marking: str
    suppress: bool = False
    full: bool = False
    pillars: tuple[int, ...] | None = None
    kpis: tuple[str, ...] | None = None
    groups: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    kind: str | None = None
    today: dt.date | None = None

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.fmt}"

    def options(self) -> dict[str, Any]:
        """What decides the pack's content, apart from the data."""
        return {
            "force": self.force, "period": self.period.isoformat(), "fmt": self.fmt,
            "marking": self.marking,
            "suppress": suppression_required(self.marking, self.suppress),
            "full": self.full, "pillars": self.pillars, "kpis": self.kpis,
            "groups": self.groups, "kind": self.kind,
            "scope": self.principal.force or "all forces",
            "today": (self.today or dt.date.today()).isoformat(),
        }


def exports_root(state: Path) -> Path:
    """The folder of pack jobs and the pack cache, in the state folder
    (``FlightDeckService.state_dir``: beside a DuckDB file, or the servers' shared one)."""
    return Path(state) / EXPORTS_FOLDER


def cache_key(options: dict[str, Any], data_version: str) -> str:
    text = json.dumps({"options": options, "data": data_version}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def _prune(cache: Path, keep: int = CACHE_LIMIT) -> None:
    entries = sorted((p for p in cache.iterdir() if p.is_file() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        old.unlink(missing_ok=True)


def pack_job(progress: Progress, request: PackRequest, folder: str) -> dict[str, Any]:
    """Build (or take from the cache) the pack ``request`` asks for, into ``folder``.

    The result names the file, its size and whether it came from the cache. Cancelling
    (:func:`kpis.jobs.cancel`) stops it at its next step, with nothing left behind.
    """
    from kpis.exports.packs import build_pack
    from kpis.jobs import JobCancelled
    from kpis.service import FlightDeckService

    out_folder = Path(folder)
    service = FlightDeckService(as_location(request.db_path), request.principal,
                                request.address,
                                security_path=as_location(request.security_path))
    try:
        progress("Reading the data")
        ds = service.dataset()
        # Packs carry commentary and recommendation progress: both versions.
        key = cache_key(request.options(), f"{ds.data_version}/{service.annotation_version}")
        cache = out_folder.parent / CACHE_FOLDER  # beside the job folders
        cache.mkdir(parents=True, exist_ok=True)
        cached = cache / f"{key}.{request.fmt}"
        target = out_folder / request.file_name
        if cached.is_file():
            shutil.copyfile(cached, target)
            os.utime(cached)  # recently used: kept longest
            return _result(target, cached=True)

        def stop_if_cancelled() -> None:
            if cancel_requested(out_folder):
                raise JobCancelled

        partial = cache / f".{key}.{os.getpid()}.{request.fmt}"
        try:
            build_pack(service, request.force, request.period, request.fmt,  # type: ignore[arg-type]
                       pillars=request.pillars, kpis=request.kpis, marking=request.marking,
                       suppress=request.suppress, out=partial,
                       commentary=service.all_commentary(request.force, request.period),
                       progress=progress, groups=_groups(request.groups), kind=request.kind,
                       full=request.full, today=request.today,
                       cancelled=stop_if_cancelled)
            stop_if_cancelled()
            os.replace(partial, cached)
        finally:
            partial.unlink(missing_ok=True)
        shutil.copyfile(cached, target)
        _prune(cache)
        return _result(target, cached=False)
    finally:
        service.close()


def _groups(groups: Sequence[tuple[str, Sequence[str]]] | None
            ) -> list[tuple[str, list[str]]] | None:
    return [(heading, list(ids)) for heading, ids in groups] if groups else None


def _result(target: Path, cached: bool) -> dict[str, Any]:
    return {"file": target.name, "bytes": target.stat().st_size, "cached": cached}
