"""The upload routes (web.uploads) and the Load data page's jobs, through the real app:
files stream to disk under the size limit, only their owner can reach them, and the
check and load run as jobs whose report the page shows."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import dash
import pytest
from flask.testing import FlaskClient

from tests.conftest import app_over
from tests.published import outcomes_workbook
from tests.test_home_office_published import OUTCOME_ROWS, SHEET
from tests.test_security import BASE, render_page, signed_in
from tests.uploading import batch_folder, start_batch, upload, wait_for_job
from web.uploads import STALE_SECONDS, UPLOAD_PATH, remove_stale

MB = 1024 * 1024
RETURN = b"force,month,measure,value\nkent,2025-08,rape_reports,3\n"


class Pattern(io.RawIOBase):
    """``size`` bytes made as they are read (a 60 MB body the test never holds): each
    block of 256 KiB repeats one byte, so the content depends on the position."""

    BLOCK = 256 * 1024

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position,
                         io.SEEK_END: self.size}[whence] + offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        block = self.position // self.BLOCK
        count = min(len(buffer), self.size - self.position,
                    (block + 1) * self.BLOCK - self.position)
        chunk = bytes([block % 251]) * count
        buffer[:count] = chunk
        self.digest.update(chunk)
        self.position += count
        return count


def analyst(secured_db: Path, env: dict[str, str] | None = None,
            who: str = "analyst") -> FlaskClient:
    return signed_in(app_over(secured_db, env), who)


def poll(client: FlaskClient, app: dash.Dash, token: str) -> dict[str, Any]:
    """What the Load data page shows for the batch now (its poll callback)."""
    name = next(n for n in app.callback_map if "upload-poll.disabled" in n
                and "allow" not in n and "@" not in n.split("upload-poll.disabled")[1][:1])
    response = client.post(f"{BASE}/_dash-update-component", json={
        "output": name,
        "outputs": [{"id": part.split(".")[0], "property": part.split(".")[1]}
                    for part in name.strip(".").split("...")],
        "inputs": [{"id": "upload-token", "property": "data", "value": token},
                   {"id": "upload-poll", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["upload-poll.n_intervals"], "state": []})
    assert response.status_code == 200, response.data
    return response.get_json()["response"]


def test_a_60_mb_file_streams_to_disk_without_being_held_in_memory(
        secured_db: Path) -> None:
    client = analyst(secured_db)
    size = 60 * MB
    # Declared at the default limit, 60 MB, it is accepted ...
    reopened = client.post(f"{BASE}{UPLOAD_PATH}", json={
        "files": [{"name": "year.xlsx", "size": size}]})
    assert reopened.status_code == 200, reopened.data
    url = reopened.get_json()["files"][0]
    body = Pattern(size)
    tracemalloc.start()
    try:
        sent = client.post(BASE + url, input_stream=body,
                           content_length=size, content_type="application/octet-stream")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent.status_code == 204, sent.data
    # ... and written as it arrived: the server held a few chunks, never the file.
    assert peak < 8 * MB, f"{peak / MB:.1f} MB held"
    staged = batch_folder(secured_db, reopened.get_json()["token"]) / "files" / "year.xlsx"
    assert staged.stat().st_size == size
    digest = hashlib.sha256()
    with staged.open("rb") as handle:
        while chunk := handle.read(MB):
            digest.update(chunk)
    assert digest.hexdigest() == body.digest.hexdigest()
    # One byte over the limit is refused before anything is staged.
    over = client.post(f"{BASE}{UPLOAD_PATH}", json={
        "files": [{"name": "year.xlsx", "size": size + 1}]})
    assert over.status_code == 413 and b"larger than 60 MB" in over.data


def test_a_file_that_is_not_what_was_declared_is_not_kept(secured_db: Path) -> None:
    client = analyst(secured_db)
    opened = start_batch(client, [("r.csv", RETURN)], BASE).get_json()
    target = batch_folder(secured_db, opened["token"]) / "files" / "r.csv"
    longer = client.post(BASE + opened["files"][0], data=RETURN + b"more",
                         content_type="application/octet-stream")
    assert longer.status_code == 413
    shorter = client.post(BASE + opened["files"][0], data=RETURN[:10],
                          content_type="application/octet-stream")
    assert shorter.status_code == 400 and b"did not arrive as it was sent" in shorter.data
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial file either
    early = client.post(BASE + opened["check"])
    assert early.status_code == 409 and b"Not every file has arrived" in early.data


@pytest.mark.slow  # runs the check as a job, in a child process
def test_only_the_person_who_uploaded_can_reach_the_batch(secured_db: Path) -> None:
    app = app_over(secured_db)
    owner, other = signed_in(app, "analyst"), signed_in(app, "admin")
    opened = start_batch(owner, [("r.csv", RETURN)], BASE).get_json()
    sent = other.post(BASE + opened["files"][0], data=RETURN,
                      content_type="application/octet-stream")
    assert sent.status_code == 404
    assert other.post(BASE + opened["check"]).status_code == 404
    token = upload(owner, [("r.csv", RETURN)], BASE)
    wait_for_job(secured_db, token, "check")
    assert "No errors" in str(poll(owner, app, token))
    seen = str(poll(other, app, token))
    assert "nothing is waiting" in seen and "No errors" not in seen


def test_a_viewer_cannot_open_an_upload(secured_db: Path) -> None:
    viewer = analyst(secured_db, who="viewer")
    response = start_batch(viewer, [("r.csv", RETURN)], BASE)
    assert response.status_code == 403 and b"analyst role" in response.data
    assert not (secured_db.parent / ".uploads").exists()


@pytest.mark.slow  # runs the check as a job, in a child process
def test_a_force_scoped_analyst_is_told_which_figures_they_may_load(
        secured_db: Path) -> None:
    app = app_over(secured_db)
    client = signed_in(app, "kent-analyst")
    durham = b"force,month,measure,value\ndurham,2025-08,rape_reports,3\n"
    token = upload(client, [("durham.csv", durham)], BASE)
    wait_for_job(secured_db, token, "check")
    shown = poll(client, app, token)
    assert "may load figures for Kent only" in str(shown["upload-report"])
    assert shown["upload-confirm"]["disabled"] is True


@pytest.mark.slow  # runs the check as a job, in a child process
def test_the_published_workbook_is_checked_as_a_job_and_its_summary_shown(
        secured_db: Path, tmp_path: Path) -> None:
    app = app_over(secured_db)
    client = signed_in(app, "analyst")
    workbook = outcomes_workbook(tmp_path / "prc-outcomes-open-data-mar2025-tables.xlsx",
                                 OUTCOME_ROWS, data_sheet=SHEET)
    token = upload(client, [(workbook.name, workbook.read_bytes())], BASE)
    assert wait_for_job(secured_db, token, "check").state == "done"
    shown = str(poll(client, app, token)["upload-report"])
    # What tests/test_home_office_published.py works out for this workbook.
    assert "15 rows read, 12 kept" in shown
    assert "3 cells read as no count (N/A: not applicable" in shown
    assert "1 negative corrections summed as published" in shown


def test_the_page_says_how_much_it_takes(secured_db: Path) -> None:
    client = analyst(secured_db, {"FLIGHTDECK_MAX_UPLOAD_MB": "45"})
    body = render_page(client, "/upload").get_data(as_text=True)
    assert "Up to 20 files of up to 45 MB each" in body
    assert f'"data-max-bytes":"{45 * MB}"' in body


def test_a_batch_nobody_loaded_is_removed_after_a_day(tmp_path: Path) -> None:
    old, recent = tmp_path / "old", tmp_path / "recent"
    for folder in (old, recent):
        folder.mkdir()
    day_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    remove_stale(tmp_path)
    assert not old.exists() and recent.exists()


@pytest.mark.slow  # runs the check as a job, in a child process
def test_an_empty_file_is_reported_not_refused_at_the_door(secured_db: Path) -> None:
    app = app_over(secured_db)
    client = signed_in(app, "analyst")
    token = upload(client, [("empty.csv", b"")], BASE)
    wait_for_job(secured_db, token, "check")
    assert "the file is empty" in str(poll(client, app, token)["upload-report"])
