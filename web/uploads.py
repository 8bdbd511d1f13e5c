"""The upload routes: files stream to a private staging folder, then are checked and
loaded as background jobs (:mod:`kpis.jobs`, :mod:`kpis.uploads`).

A year's Home Office workbook is up to 45 MB. Sent through a Dash callback it would
arrive base64 encoded inside JSON, a third larger and held whole in memory, and be
read on the web thread. Instead the page's script (``assets/upload.js``) does this::

    POST /upload/batch                  {"files": [{"name": ..., "size": ...}, ...]}
        -> {"token": ..., "files": [URL, ...], "check": URL}
    POST /upload/batch/<token>/<index>  the file's bytes, written to disk as they arrive
    POST /upload/batch/<token>/check    start the check (202); the page then follows it

and the Load data page (``layouts/upload.py``) follows the job's status and, on the
analyst's confirmation, starts the load with :func:`submit`. Each server process
runs one check or load at a time, in a child process, so reading a workbook never
holds up anyone else's pages.

A batch lives in ``.uploads/<token>/`` beside the database: ``batch.json`` (whose it
is, the file names and sizes), ``files/`` and the job's ``status.json``. Only the person
who started a batch can send to it, check it, load it or follow it; a batch is removed
once loaded, and any batch is removed after a day.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePath

import dash
import flask

from kpis.domain.access import Action
from kpis.jobs import JobRunner, JobStatus, read_status
from kpis.uploads import UploadJob, check_job, load_job
from web.context import principal, service
from web.security import CONFIG_KEY, plain_response

UPLOAD_PATH = "/upload/batch"
JOBS_KEY = "FLIGHTDECK_JOBS"  # the server process's JobRunner, in the Flask config
# How board packs are sent after a load (the app's kpis.settings.MailConfig).
MAIL_KEY = "FLIGHTDECK_MAIL_CONFIG"
ACCEPTED = (".csv", ".xlsx", ".ods")
MAX_FILES = 20
CHUNK = 1 << 20  # bytes read from the request at a time
STALE_SECONDS = 24 * 3600  # a batch nobody loaded is removed after a day
# Reading this much is a job worth a fresh child process afterwards (kpis.jobs).
HEAVY_BYTES = 4 << 20
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")
# File names are cut to this (plus the suffix): file systems refuse 255 bytes and more.
MAX_NAME = 120
MAX_SUFFIX = 10
BATCH_FILE = "batch.json"
FILES = "files"


@dataclass(frozen=True)
class Batch:
    """Files one person is uploading together."""

    token: str
    folder: Path
    owner: str
    names: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def paths(self) -> list[Path]:
        return [self.folder / FILES / name for name in self.names]

    def complete(self) -> bool:
        """Every file has arrived whole."""
        return all(path.is_file() and path.stat().st_size == size
                   for path, size in zip(self.paths, self.sizes, strict=True))

    def status(self) -> JobStatus | None:
        return read_status(self.folder)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def max_upload_bytes() -> int:
    return flask.current_app.config[CONFIG_KEY].max_upload_mb * 1024 * 1024


def staging_root() -> Path:
    """Uploads wait in the state folder: beside a DuckDB file (same disk, same
    permissions), or the folder every server of a national deployment shares."""
    return service().state_dir / ".uploads"


def safe_name(name: str, taken: set[str]) -> str:
    """The analyst's file name (reports name it), but never its folders, never '.' or
    '..', not so long the file system refuses it, and not one already ``taken``."""
    safe = SAFE_NAME.sub("_", PurePath(name).name)
    if not safe.strip("."):
        safe = "upload.csv"
    stem, suffix = PurePath(safe).stem[:MAX_NAME], PurePath(safe).suffix[:MAX_SUFFIX]
    candidate, number = stem + suffix, 1
    # Two files of one name (from different folders) must not overwrite each other.
    while candidate in taken:
        number += 1
        candidate = f"{stem} ({number}){suffix}"
    taken.add(candidate)
    return candidate


def new_batch(root: Path, owner: str, names: list[str], sizes: list[int]) -> Batch:
    remove_stale(root)
    token = secrets.token_urlsafe(18)
    folder = root / token
    (folder / FILES).mkdir(parents=True, mode=0o700)
    taken: set[str] = set()
    batch = Batch(token, folder, owner, tuple(safe_name(n, taken) for n in names),
                  tuple(sizes))
    (folder / BATCH_FILE).write_text(json.dumps(
        {"owner": owner, "names": batch.names, "sizes": batch.sizes}), encoding="utf-8")
    return batch


def find_batch(token: object) -> Batch | None:
    """The signed-in person's batch ``token``; None for anyone else's or none."""
    who = principal()
    if who is None or not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    folder = staging_root() / token
    try:
        data = json.loads((folder / BATCH_FILE).read_text(encoding="utf-8"))
        batch = Batch(token, folder, str(data["owner"]), tuple(map(str, data["names"])),
                      tuple(map(int, data["sizes"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not secrets.compare_digest(batch.owner.encode(), who.username.encode()):
        return None
    return batch


def remove_stale(root: Path, now: float | None = None) -> None:
    """Remove batches nobody has touched for a day (abandoned uploads)."""
    now = now or time.time()
    if not root.is_dir():
        return
    for folder in root.iterdir():
        try:
            if now - folder.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def _job(batch: Batch) -> UploadJob:
    scoped = service()
    return UploadJob(str(scoped.db_path), str(scoped.security.path), scoped.principal,
                     scoped.address, tuple(map(str, batch.paths)),
                     flask.current_app.config.get(MAIL_KEY))


def _runner() -> JobRunner:
    return flask.current_app.config[JOBS_KEY]


#: Each job an upload goes through, by the name its status carries.
TASKS = {"check": check_job, "load": load_job}


def submit(batch: Batch, kind: str) -> None:
    """Start checking ("check") or loading ("load") the batch as a background job."""
    _runner().submit(batch.folder, kind, TASKS[kind], _job(batch),
                     heavy=sum(batch.sizes) > HEAVY_BYTES)


# --------------------------------------------------------------------------- routes


def _refusal() -> flask.Response | None:
    if not service().may(Action.LOAD):
        return plain_response(403, "Loading data needs the analyst role. Ask an "
                              "administrator if you need it.")
    return None


def _start() -> flask.Response:
    """Open a batch for the files the page is about to send."""
    refused = _refusal()
    if refused is not None:
        return refused
    body = flask.request.get_json(silent=True)
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or not files:
        return plain_response(400, "Choose at least one file to upload.")
    if len(files) > MAX_FILES:
        return plain_response(400, f"Upload at most {MAX_FILES} files at a time.")
    names: list[str] = []
    sizes: list[int] = []
    limit = max_upload_bytes()
    for item in files:
        name = item.get("name") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or len(name) > 1024 or isinstance(
                size, bool) or not isinstance(size, int) or size < 0:
            return plain_response(400, "Each file needs a name and a size in bytes.")
        if PurePath(name).suffix.lower() not in ACCEPTED:
            return plain_response(400, f"{PurePath(name).name}: upload CSV, XLSX or ODS "
                                  "files only.")
        if size > limit:
            return plain_response(413, f"{PurePath(name).name} is larger than "
                                  f"{limit // (1024 * 1024)} MB, the most one file may be.")
        names.append(name)
        sizes.append(size)
    batch = new_batch(staging_root(), service().principal.username, names, sizes)
    return flask.jsonify(
        token=batch.token,
        files=[f"{UPLOAD_PATH}/{batch.token}/{index}" for index in range(len(names))],
        check=f"{UPLOAD_PATH}/{batch.token}/check")


def _receive(token: str, index: int) -> flask.Response:
    """Write one file's bytes to the batch as they arrive, never more than it declared."""
    refused = _refusal()
    if refused is not None:
        return refused
    batch = find_batch(token)
    if batch is None or not 0 <= index < len(batch.names) or batch.status() is not None:
        return plain_response(404, "That upload is not waiting for files: upload again.")
    declared = batch.sizes[index]
    # Werkzeug refuses a body declared longer before it is read. One byte more than the
    # file is allowed for, so that a body that goes on is seen to, and refused below;
    # (a stream limited to exactly the size would refuse the read that finds its end).
    flask.request.max_content_length = declared + 1
    target = batch.paths[index]
    partial = target.with_name(f".{target.name}.part")
    written = 0
    try:
        with partial.open("wb") as out:
            while written <= declared and (
                    chunk := flask.request.stream.read(min(CHUNK, declared + 1 - written))):
                written += len(chunk)
                out.write(chunk)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    if written != declared:
        partial.unlink(missing_ok=True)
        return plain_response(400, f"{target.name} did not arrive as it was sent "
                              f"({written:,} bytes of {declared:,}): upload it again.")
    os.replace(partial, target)
    return flask.make_response("", 204)


def _check(token: str) -> flask.Response:
    """Start checking a batch whose files have all arrived."""
    refused = _refusal()
    if refused is not None:
        return refused
    batch = find_batch(token)
    if batch is None:
        return plain_response(404, "That upload is not waiting: upload the files again.")
    if batch.status() is not None:
        return plain_response(409, "Those files are being checked already.")
    if not batch.complete():
        return plain_response(409, "Not every file has arrived: upload them again.")
    submit(batch, "check")
    return flask.make_response(flask.jsonify(token=batch.token), 202)


def register_uploads(app: dash.Dash) -> None:
    """Add the upload routes and this server process's job runner to ``app``."""
    server = app.server
    server.config[JOBS_KEY] = JobRunner()
    server.add_url_rule(UPLOAD_PATH, "upload_start", _start, methods=["POST"])
    server.add_url_rule(f"{UPLOAD_PATH}/<token>/<int:index>", "upload_file", _receive,
                        methods=["POST"])
    server.add_url_rule(f"{UPLOAD_PATH}/<token>/check", "upload_check", _check,
                        methods=["POST"])
