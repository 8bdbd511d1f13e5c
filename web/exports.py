"""Board packs as background jobs, for the pages that build them.

A page starts a pack (:func:`start_pack`: the export is authorised and audited as the
signed-in person, then queued on this server process's export runner, a pool of
:data:`EXPORT_WORKERS` spawned children, or in the national mode the Celery workers
through Redis, :mod:`kpis.celery_jobs`), follows it (:func:`pack_status`), may cancel it
(:func:`cancel_pack`) and, when it is done, links to ``GET /download/pack/<token>``. A
job lives in ``.exports/<token>/`` beside the database, with ``job.json`` saying whose
it is: only that person can follow, cancel or download it; for anyone else it does not
exist (404).
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import time
from pathlib import Path

import dash
import flask

from kpis.jobs import JobRunner, JobStatus, Runner, cancel, read_status
from kpis.pack_jobs import PackRequest, exports_root, pack_job
from kpis.storage.security import EXPORT
from web.context import principal, service

__all__ = ["EXPORT_WORKERS", "PACK_PATH", "cancel_pack", "pack_status", "register_exports",
           "start_pack"]

# The server process's export runner (Flask config): a JobRunner, or nationally a
# kpis.celery_jobs.CeleryRunner.
EXPORTS_KEY = "flightdeck.exports"
#: Packs built at once per server process. Two children on a 2-core machine: a second
#: person's pack does not wait for the first, and page requests keep a core.
EXPORT_WORKERS = 2
PACK_PATH = "/download/pack"
JOB_FILE = "job.json"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
STALE_SECONDS = 24 * 3600
QUEUED = "Waiting for another pack on this server to finish"
MEDIA_TYPES = {
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _root() -> Path:
    return exports_root(service().state_dir)


def _remove_stale(root: Path, now: float | None = None) -> None:
    now = now or time.time()
    for folder in root.iterdir() if root.is_dir() else []:
        if folder.name == "cache" or not TOKEN_PATTERN.match(folder.name):
            continue
        try:
            if now - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def start_pack(request: PackRequest) -> str:
    """Authorise and audit the export, then queue the pack; returns the job's token.

    ``request``'s database, person and address are this request's, whatever it says.
    Raises :class:`kpis.domain.access.AccessDenied` when the person may not export it.
    """
    scoped = service()
    scoped.authorise_export(f"{request.file_name} ({request.force}, {request.period:%Y-%m})",
                            request.force)
    request = dataclasses.replace(request, db_path=str(scoped.db_path),
                                  security_path=str(scoped.security.path),
                                  principal=scoped.principal, address=scoped.address)
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    token = secrets.token_urlsafe(18)
    folder = root / token
    folder.mkdir(mode=0o700)
    (folder / JOB_FILE).write_text(json.dumps(
        {"owner": scoped.principal.username, "file": request.file_name, "fmt": request.fmt}),
        encoding="utf-8")
    runner: Runner = flask.current_app.config[EXPORTS_KEY]
    runner.submit(folder, "pack", pack_job, request, str(folder))
    return token


def _job(token: object) -> tuple[Path, dict[str, str]] | None:
    """The signed-in person's job ``token`` (its folder and job.json); None otherwise."""
    who = principal()
    if who is None or not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    folder = _root() / token
    try:
        data = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not secrets.compare_digest(str(data.get("owner", "")).encode(),
                                  who.username.encode()):
        return None
    return folder, data


def pack_status(token: object) -> JobStatus | None:
    """How far the person's pack has got; None for no such job (or someone else's)."""
    found = _job(token)
    return read_status(found[0]) if found else None


def cancel_pack(token: object) -> bool:
    """Ask the person's pack to stop; False for no such job."""
    found = _job(token)
    if not found:
        return False
    cancel(found[0])
    return True


def _download(token: str) -> flask.Response:
    found = _job(token)
    status = read_status(found[0]) if found else None
    if found is None or status is None or status.state != "done" or not status.result:
        flask.abort(404)
    folder, data = found
    name = str(status.result.get("file", ""))
    path = folder / name
    if name != data.get("file") or not path.is_file():
        flask.abort(404)
    service().audit(EXPORT, f"downloaded {name}")
    response = flask.send_file(path, mimetype=MEDIA_TYPES.get(data.get("fmt", ""),
                                                              "application/octet-stream"),
                               as_attachment=True, download_name=name, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_exports(app: dash.Dash, redis_url: str | None = None) -> None:
    """Add the pack download route and this server process's export runner to ``app``:
    with ``redis_url`` (FLIGHTDECK_REDIS_URL, the national mode) packs go to the Celery
    workers through that Redis and this process draws none; else its own children."""
    server = app.server
    if redis_url:
        from kpis.celery_jobs import CeleryRunner

        server.config[EXPORTS_KEY] = CeleryRunner(redis_url)
    else:
        server.config[EXPORTS_KEY] = JobRunner(workers=EXPORT_WORKERS, queued_message=QUEUED)
    server.add_url_rule(f"{PACK_PATH}/<token>", "pack_download", _download)
