"""Uploading through the real routes, as ``assets/upload.js`` does, with Flask's test
client: open a batch, stream each file, start the check, and follow the job.

``base`` is the client's scheme and host ("" for plain http; signed-in clients speak
https because session cookies are Secure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kpis.jobs import JobStatus, read_status
from tests.conftest import wait_until
from web.uploads import UPLOAD_PATH

JOB_TIMEOUT = 60.0  # the first job of a process starts its child (about 2 s)


def start_batch(client: Any, files: list[tuple[str, bytes]], base: str = "") -> Any:
    return client.post(f"{base}{UPLOAD_PATH}", json={
        "files": [{"name": name, "size": len(data)} for name, data in files]})


def upload(client: Any, files: list[tuple[str, bytes]], base: str = "") -> str:
    """Send ``files`` (name, bytes) and start their check; the batch's token."""
    started = start_batch(client, files, base)
    assert started.status_code == 200, started.get_data(as_text=True)
    batch = started.get_json()
    for url, (_, data) in zip(batch["files"], files, strict=True):
        sent = client.post(base + url, data=data, content_type="application/octet-stream")
        assert sent.status_code == 204, sent.get_data(as_text=True)
    checking = client.post(base + batch["check"])
    assert checking.status_code == 202, checking.get_data(as_text=True)
    return str(batch["token"])


def batch_folder(db: Path, token: str) -> Path:
    return db.parent / ".uploads" / token


def wait_for_job(db: Path, token: str, kind: str) -> JobStatus:
    """The batch's ``kind`` job ("check" or "load") once it has finished."""
    folder = batch_folder(db, token)

    def finished() -> bool:
        status = read_status(folder)
        return status is not None and status.kind == kind and status.finished

    wait_until(finished, f"the {kind} job of {token}", timeout=JOB_TIMEOUT)
    status = read_status(folder)
    assert status is not None
    return status
