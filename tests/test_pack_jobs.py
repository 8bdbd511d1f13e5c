"""Packs as background jobs: the cache of finished packs, cancelling, and the download
route that only the person who started a job can use."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
from pathlib import Path

import dash
import pytest

from kpis.domain.access import Principal
from kpis.jobs import _run, cancel, read_status, write_status
from kpis.pack_jobs import CACHE_FOLDER, PackRequest, exports_root, pack_job
from kpis.storage.annotations import write_commentary
from kpis.storage.security import SecurityStore, security_db_path
from tests.conftest import app_over
from tests.test_security import BASE, signed_in

PERIOD = dt.date(2025, 9, 1)
ANALYST = Principal("analyst", "analyst")
KENT = Principal("kent-analyst", "analyst", "kent")


def request_for(db: Path, principal: Principal = ANALYST, **options: object) -> PackRequest:
    return PackRequest(str(db), str(security_db_path(db)), principal, "", "kent", PERIOD,
                       "pptx", "board-pack-kent-2025-09", "OFFICIAL-SENSITIVE",
                       today=dt.date(2025, 10, 15), **options)  # type: ignore[arg-type]


def run(db: Path, request: PackRequest, folder: Path) -> dict[str, object]:
    folder.mkdir(parents=True)
    _run(folder, "pack", pack_job, (request, str(folder)))
    status = read_status(folder)
    assert status is not None
    return {"state": status.state, **(status.result or {})}


def cache_files(folders: Path) -> list[Path]:
    """The pack cache beside the job folders in ``folders``."""
    cache = folders / CACHE_FOLDER
    return sorted(cache.iterdir()) if cache.is_dir() else []


@pytest.mark.slow  # five packs built
def test_a_finished_pack_is_cached_by_options_scope_and_data(demo_db: Path,
                                                              tmp_path: Path) -> None:
    first = run(demo_db, request_for(demo_db), tmp_path / "one")
    assert first["state"] == "done" and first["cached"] is False
    again = run(demo_db, request_for(demo_db), tmp_path / "two")
    assert again["cached"] is True
    name = "board-pack-kent-2025-09.pptx"
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert len(cache_files(tmp_path)) == 1
    # Another person's scope, another option or new data: a pack of its own.
    assert run(demo_db, request_for(demo_db, KENT), tmp_path / "kent")["cached"] is False
    assert run(demo_db, request_for(demo_db, full=True), tmp_path / "full")["cached"] is False
    write_commentary(demo_db, "cps_referrals", "kent", PERIOD, "New commentary.", "Jane")
    assert run(demo_db, request_for(demo_db), tmp_path / "new")["cached"] is False
    assert len(cache_files(tmp_path)) == 4


def test_a_cancelled_pack_leaves_nothing_behind(demo_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    cancel(folder)  # asked before the job starts: it stops at its first step
    _run(folder, "pack", pack_job, (request_for(demo_db), str(folder)))
    status = read_status(folder)
    assert status is not None and status.state == "cancelled" and status.finished
    assert not (folder / "board-pack-kent-2025-09.pptx").exists()
    assert cache_files(tmp_path) == []


@pytest.fixture
def secured_app(secured_db: Path) -> dash.Dash:
    return app_over(secured_db)


def finished_job(db: Path, owner: str, state: str = "done") -> tuple[str, bytes]:
    """A job folder as a finished pack job leaves it."""
    token = secrets.token_urlsafe(18)
    folder = exports_root(db.parent) / token
    folder.mkdir(parents=True)
    name = "board-pack-kent-2025-09.pdf"
    data = b"%PDF-1.7 a pack"
    (folder / name).write_bytes(data)
    (folder / "job.json").write_text(json.dumps({"owner": owner, "file": name, "fmt": "pdf"}))
    write_status(folder, "pack", state, "Finished",  # type: ignore[arg-type]
                 {"file": name, "bytes": len(data), "cached": False})
    return token, data


def test_only_the_person_who_built_a_pack_can_download_it(secured_app: dash.Dash,
                                                           secured_db: Path) -> None:
    token, data = finished_job(secured_db, "analyst")
    owner = signed_in(secured_app, "analyst")
    answer = owner.get(f"{BASE}/download/pack/{token}")
    assert answer.status_code == 200 and answer.data == data
    assert answer.headers["Content-Type"] == "application/pdf"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "no-store"
    other = signed_in(secured_app, "kent-analyst")
    assert other.get(f"{BASE}/download/pack/{token}").status_code == 404
    assert owner.get(f"{BASE}/download/pack/{'x' * 24}").status_code == 404
    # A path that climbs out is not a job: it reaches the dashboard's page, not a file.
    climbing = owner.get(f"{BASE}/download/pack/..%2F..%2Fsecrets")
    assert "attachment" not in climbing.headers.get("Content-Disposition", "")
    running, _ = finished_job(secured_db, "analyst", state="running")
    assert owner.get(f"{BASE}/download/pack/{running}").status_code == 404
    # Signed out: the sign-in page, not the file.
    anonymous = secured_app.server.test_client()
    assert anonymous.get(f"{BASE}/download/pack/{token}").status_code in (302, 401)
    store = SecurityStore(security_db_path(secured_db))
    try:
        downloads = [e for e in store.events(event="export") if "downloaded" in e.detail]
    finally:
        store.close()
    assert [e.username for e in downloads] == ["analyst"]


def test_stale_job_folders_are_removed_and_the_cache_kept(secured_app: dash.Dash,
                                                          secured_db: Path) -> None:
    import os
    import time

    from web.exports import _remove_stale

    token, _ = finished_job(secured_db, "analyst")
    root = exports_root(secured_db.parent)
    (root / CACHE_FOLDER).mkdir()
    old = time.time() - 2 * 24 * 3600
    os.utime(root / token, (old, old))
    os.utime(root / CACHE_FOLDER, (old, old))
    _remove_stale(root)
    assert not (root / token).exists() and (root / CACHE_FOLDER).exists()
    shutil.rmtree(root)
