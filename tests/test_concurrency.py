"""No fault may lose or corrupt data (issue #7): loads while the dashboard is busy.

The real app (served in a thread of this process) serves a copy of the demonstration
database while twenty reader threads ask it for pages, the Dash layout and the page
callbacks that read the data, and this process loads four returns into the same file
and rolls the last back. Every request must answer 200 with a whole page (never the
"Something went wrong" fallback), the readers must see the loads land, and the app
must end up serving the data of the last write.

A second test replays, deterministically, the race that could fail a request: a
thread about to connect to the version it chose while another thread moves the
shared reader on to a newly published one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import sqlalchemy as sa

from kpis.ingest.loader import load_files, rollback
from kpis.storage import duckdb_file as store
from kpis.storage import schema
from kpis.storage.duckdb_file import Reader, write_transaction
from tests.conftest import BACKENDS, LiveServer, served, wait_until

pytestmark = pytest.mark.slow  # twenty readers for seconds while loads land

READERS = 20
REQUEST_TIMEOUT = 30.0
WAIT_TIMEOUT = 30.0
SEARCH = "?force=kent&period=2025-09"
# Each load resubmits Kent's September referrals to the CPS (21 in the demonstration
# data) with a value of its own, so the KPI page tells which version it was built from.
LOADED_VALUES = (101, 102, 103, 104)
SUMMARY = re.compile(r"Kent: Police referrals to CPS was (\d+) in September 2025")
PAGE_FAULT = "Something went wrong"


def fetch(url: str, payload: dict[str, Any] | None = None) -> tuple[int, str]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        return response.status, response.read().decode("utf-8")


def pages_callback_payload(server: LiveServer, path: str, search: str) -> dict[str, Any]:
    """The request the browser's Dash renderer sends for a page's content, built from
    the app's own ``/_dash-dependencies``."""
    _, dependencies = fetch(server.url + "/_dash-dependencies")
    callback = next(d for d in json.loads(dependencies) if "_pages_store" in d["output"])
    inputs = [{**item, "value": {"pathname": path, "search": search}.get(item["property"])}
              for item in callback["inputs"]]
    return {
        "output": callback["output"],
        "outputs": [{"id": part.split(".")[0], "property": part.split(".")[1]}
                    for part in callback["output"].strip(".").split("...")],
        "inputs": inputs,
        "changedPropIds": [f"{item['id']}.{item['property']}" for item in inputs],
        "state": [{**item, "value": None} for item in callback.get("state", [])],
    }


@dataclass(frozen=True)
class Probe:
    """One request a reader makes and what its answer must contain."""

    name: str
    path: str
    expected: str
    payload: dict[str, Any] | None = None

    def check(self, server: LiveServer) -> str:
        """Make the request; return the body, raising AssertionError on a bad answer."""
        status, body = fetch(server.url + self.path, self.payload)
        assert status == 200, f"status {status}"
        assert self.expected in body, f"no {self.expected!r} in the answer"
        if self.payload is not None:
            assert "_pages_content" in json.loads(body)["response"], "no page content"
            assert PAGE_FAULT not in body, "the page shows its fault message"
        return body


def probes(server: LiveServer) -> list[Probe]:
    html = '<html lang="en-GB">'
    pages = [Probe(f"GET {path}", path, html)
             for path in ("/", "/pillar/1", "/kpi/cps_referrals", "/compare", "/data")]
    # The layout shows the demonstration banner only when it has read the data: on a read
    # fault it leaves the banner out rather than failing.
    pages.append(Probe("GET /_dash-layout", "/_dash-layout", "DEMONSTRATION DATA"))
    rendered = {
        "/": "Flight deck: Kent",
        "/pillar/1": "Pillar 1: ",
        "/kpi/cps_referrals": "Kent: Police referrals to CPS was ",
        "/compare": "Compare forces: ",
        "/data": "Kent",
        "/definitions": "KPI definitions",
    }
    callbacks = [
        Probe(f"render {path}", "/_dash-update-component", text,
              pages_callback_payload(server, path, SEARCH))
        for path, text in rendered.items()
    ]
    return pages + callbacks


@dataclass
class Readers:
    """Reader threads asking for every probe in turn until told to stop."""

    server: LiveServer
    probes: list[Probe]
    stop: threading.Event = field(default_factory=threading.Event)
    answered: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    values_seen: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, offset: int) -> None:
        turn = offset
        while not self.stop.is_set():
            probe = self.probes[turn % len(self.probes)]
            turn += 1
            try:
                body = probe.check(self.server)
            except Exception as problem:  # any failure at all is what the test reports
                first_line = next(iter(str(problem).splitlines()), "")
                with self.lock:
                    self.failures.append(f"{probe.name}: {type(problem).__name__}: {first_line}")
                continue
            with self.lock:
                self.answered[probe.name] += 1
                self.values_seen.update(int(v) for v in SUMMARY.findall(body))

    def start(self, count: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                   for i in range(count)]
        for thread in threads:
            thread.start()
        return threads


def served_value(probe: Probe, server: LiveServer) -> int:
    [value] = {int(v) for v in SUMMARY.findall(probe.check(server))}
    return value


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT_TIMEOUT) -> None:
    wait_until(condition, what, timeout)


def write_return(path: Path, value: int) -> Path:
    path.write_text(f"force,month,measure,value\nkent,2025-09,cps_referrals,{value}\n",
                    encoding="utf-8")
    return path


@pytest.fixture(params=BACKENDS)
def busy_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """The real app over a writable demonstration database: the session's DuckDB server,
    or a server of its own over a PostgreSQL copy."""
    if request.param == "duckdb":
        yield request.getfixturevalue("writable_server")
        return
    with served(request.getfixturevalue("postgres_demo_db"), tmp_path / "pg.log") as server:
        yield server


def test_loads_and_a_rollback_under_twenty_readers_fail_no_request_and_are_served(
    busy_server: LiveServer, tmp_path: Path
) -> None:
    server = busy_server
    checks = probes(server)
    kpi_page = next(p for p in checks if p.name == "render /kpi/cps_referrals")
    assert served_value(kpi_page, server) == 21

    readers = Readers(server, checks)
    threads = readers.start(READERS)
    try:
        # Every reader is under way before the first write.
        wait_for(lambda: sum(readers.answered.values()) >= 2 * READERS, "the readers")
        load_ids = []
        for number, value in enumerate(LOADED_VALUES, start=1):
            file = write_return(tmp_path / f"concurrent-load-{number}.csv", value)
            load_ids += load_files(server.db, [file], user="concurrency-test").load_ids
            wait_for(lambda value=value: served_value(kpi_page, server) == value,
                     f"the app to serve load {number}")
        rollback(server.db, load_ids[-1])
        wait_for(lambda: served_value(kpi_page, server) == LOADED_VALUES[-2],
                 "the app to serve the rollback")
        # The readers carry on for a while over the final version.
        settled = sum(readers.answered.values())
        wait_for(lambda: sum(readers.answered.values()) >= settled + 2 * READERS,
                 "the readers to read the final data")
    finally:
        readers.stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    assert readers.failures == [], "\n".join(readers.failures[:20])
    assert not any(thread.is_alive() for thread in threads), "a reader hung"
    assert set(readers.answered) == {p.name for p in checks}, readers.answered
    # The readers were reading while the writes landed: besides the first and the last
    # version they saw at least one in between, and never a value nobody wrote.
    assert readers.values_seen <= {21, *LOADED_VALUES}, readers.values_seen
    assert len(readers.values_seen) >= 3, readers.values_seen
    assert served_value(kpi_page, server) == LOADED_VALUES[-2]
    data_page = next(p for p in checks if p.name == "render /data").check(server)
    assert "concurrent-load-4.csv" in data_page
    assert "Traceback" not in server.log.read_text(), server.log.read_text()


def test_a_reader_thread_that_took_the_old_version_just_before_a_write_still_connects(
    empty_db: Path
) -> None:
    """The dashboard's threads share one Reader. A thread that has picked the engine for
    the current version, and is paused before connecting while a write lands and another
    thread moves the reader on to the new version (removing the old version's link),
    must still get a connection: to either whole version."""
    reader = Reader(empty_db)
    count = sa.select(sa.func.count()).select_from(schema.observations)
    with reader.connect() as conn:
        assert conn.execute(count).scalar_one() == 0
    chosen, resume = threading.Event(), threading.Event()
    outcome: list[object] = []

    def pause_once_the_engine_is_chosen(frame: FrameType, event: str, arg: object
                                        ) -> Callable[..., object] | None:
        if event == "return" and not chosen.is_set():
            chosen.set()
            resume.wait(WAIT_TIMEOUT)
        return None

    def trace(frame: FrameType, event: str, arg: object) -> Callable[..., object] | None:
        # Only the frame that picks the engine gets a local tracer (its return event).
        if frame.f_code.co_name == "_current_engine" and frame.f_globals is store.__dict__:
            return pause_once_the_engine_is_chosen
        return None

    def read() -> None:
        sys.settrace(trace)
        try:
            with reader.connect() as conn:
                outcome.append(conn.execute(count).scalar_one())
        except Exception as problem:  # the failure is what the test reports
            outcome.append(problem)
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        assert chosen.wait(WAIT_TIMEOUT), "the reader never chose an engine: has Reader changed?"
        with write_transaction(empty_db) as conn:
            conn.execute(sa.insert(schema.observations).values(
                force_slug="kent", measure_id="rape_reports",
                period_start=dt.date(2025, 9, 1), value=5.0, load_id=1))
        with reader.connect() as conn:  # this thread moves the reader on to the new version
            assert conn.execute(count).scalar_one() == 1
    finally:
        resume.set()
        thread.join(WAIT_TIMEOUT)
    reader.close()
    assert outcome in ([0], [1]), outcome
