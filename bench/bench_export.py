"""Export benchmark: a chart PNG with a warm renderer, the default board pack in each
format from a cold start and warm (time, size, pages), and a chart download while a pack
job is running.

Run from the project root (with the demonstration database built by
``flightdeck demo``, or let it build one under /tmp)::

    python bench/bench_export.py [--db PATH] [--repeats 5] [--runs 3]

The database is copied to a scratch folder first and everything runs on the copy (the
command line writes to the audit log beside the database, the server and the pack job
write their pack cache there). What is timed:

- *Chart PNG, warm*: ``flightdeck chart``'s work in-process (SPC table, figure, render at
  print resolution, 3600 x 2025) once the renderer is running; the median of
  ``--repeats`` charts, each a different force so no table comes from the cache.
- *Default pack, cold*: ``python -m kpis.cli export --force west-midlands --period
  2025-09 --format FMT`` (the default pack: summary, exceptions, at most 8 exception
  charts) as a new process: Python start, imports, dataset load, Chromium start where
  the format draws charts (PDF, DOCX; PowerPoint charts are native), the file. Wall time
  of the process, median of ``--runs``.
- *Default pack, warm*: ``kpis.exports.packs.build_pack`` in this process for the same
  pack, after one warm-up build (renderer running, the dataset and the KPI table cached,
  as in a long-running server's job child); median of ``--runs``.
- *Size and pages* of each pack file (the command line's): PDF pages by pypdf, PPTX
  slides by python-pptx, DOCX pages as 1 + page breaks + further page-starting sections
  (a table that runs over a page is not counted, so this is a lower bound) and, where
  LibreOffice is installed, as LibreOffice lays the file out (converted to PDF).
- *Chart download during a pack job*: the web app (``python app.py``, the unsecured local
  demonstration) serves ``GET /download/chart/spc/<kpi>.png?force=..&period=..``. After a
  warm-up download, ``--repeats`` downloads (different forces) without a job; then a full
  pack (every KPI's chart, PDF) is submitted to a ``kpis.jobs.JobRunner(workers=2)``
  running ``kpis.pack_jobs.pack_job`` (the server's job machinery, in a separate process),
  and once its status says it is drawing charts, ``--repeats`` more downloads (other
  forces). The job must still be running after them; its wall time is reported too.

Targets (from the board papers issue): chart PNG under 0.5 s warm; the default pack
under 15 s cold and under 8 s warm, under 3 MB and at most 20 pages; during a pack job a
chart download within 2x its time without a job and under 1 s. Results are printed and
written to ``bench/results/export.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpis.charts.specs import spc_export  # noqa: E402
from kpis.domain.access import Principal, Role  # noqa: E402
from kpis.exports import render  # noqa: E402
from kpis.exports.charts import write_chart  # noqa: E402
from kpis.exports.packs import PAGE_LIMIT, build_pack  # noqa: E402
from kpis.ingest.demo import build_demo  # noqa: E402
from kpis.jobs import JobRunner, read_status  # noqa: E402
from kpis.pack_jobs import PackRequest, pack_job  # noqa: E402
from kpis.service import FlightDeckService  # noqa: E402
from kpis.storage.security import security_db_path  # noqa: E402

PERIOD = dt.date(2025, 9, 1)
PACK_FORCE = "west-midlands"
FORMATS = ("pptx", "pdf", "docx")
FORCES = ["kent", "essex", "durham", "dorset", "gwent", "surrey", "sussex", "suffolk"]
CHART_KPI = "suspect_contact_30d"
CHART_TARGET = 0.5
COLD_TARGET = 15.0
WARM_TARGET = 8.0
SIZE_TARGET_MB = 3.0
PAGE_TARGET = PAGE_LIMIT  # 20
DOWNLOAD_RATIO_TARGET = 2.0
DOWNLOAD_TARGET = 1.0
RESULTS = ROOT / "bench" / "results" / "export.json"


def database(path: str | None) -> Path:
    if path:
        return Path(path)
    default = ROOT / "data" / "flightdeck.duckdb"
    if default.exists():
        return default
    scratch = Path(tempfile.gettempdir()) / "flightdeck-bench-export.duckdb"
    if not scratch.exists():
        print(f"building demonstration data in {scratch}", file=sys.stderr)
        build_demo(scratch, end=PERIOD)
    return scratch


def copy_database(db: Path, folder: Path) -> Path:
    """The database (and its users file, if any) copied into ``folder``."""
    copy = folder / "db" / db.name
    copy.parent.mkdir(parents=True)
    shutil.copy2(db, copy)
    users = security_db_path(db)
    if users.exists():
        shutil.copy2(users, security_db_path(copy))
    return copy


def summary(runs: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(runs), "max": max(runs), "runs": runs}


# --------------------------------------------------------------------------- chart PNG


def chart_warm(db: Path, repeats: int, folder: Path) -> list[float]:
    service = FlightDeckService(db)
    service.dataset()  # read the data first: the first chart times a chart, not a load
    render.render({"data": [], "layout": {}})  # start the renderer: the warm case
    times = []
    for force in (FORCES * ((repeats // len(FORCES)) + 1))[:repeats]:
        start = time.perf_counter()
        chart = spc_export(service, CHART_KPI, force, PERIOD)
        write_chart(chart, "png", folder / f"{force}.png")
        times.append(time.perf_counter() - start)
    render.shutdown()
    service.close()
    return times


# --------------------------------------------------------------------------- packs


def pages(path: Path) -> int:
    """Pages of a PDF, slides of a deck, or a Word file's page breaks + 1 (see above)."""
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return len(PdfReader(path).pages)
    if path.suffix == ".pptx":
        from pptx import Presentation

        return len(Presentation(str(path)).slides)
    with zipfile.ZipFile(path) as package:
        xml = package.read("word/document.xml").decode("utf-8")
    breaks = len(re.findall(r'<w:br\b[^>]*\bw:type="page"', xml))
    sections = re.findall(r"<w:sectPr\b.*?</w:sectPr>|<w:sectPr\b[^>]*/>", xml, re.S)
    # Every section after the first starts a page unless it is continuous.
    new_pages = sum('w:val="continuous"' not in s for s in sections[1:])
    return 1 + breaks + new_pages


def laid_out_pages(docx: Path) -> int | None:
    """The Word pack's pages as LibreOffice lays them out (None without LibreOffice): the
    page-break count misses tables that run over a page."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    folder = docx.parent / "libreoffice"
    folder.mkdir(exist_ok=True)
    try:
        subprocess.run([soffice, "--headless", f"-env:UserInstallation={folder.as_uri()}",
                        "--convert-to", "pdf", "--outdir", str(folder), str(docx)],
                       capture_output=True, timeout=180, check=True)
        return pages(folder / f"{docx.stem}.pdf")
    except (subprocess.SubprocessError, OSError) as problem:
        print(f"  LibreOffice could not lay out {docx.name}: {problem}", file=sys.stderr)
        return None


def pack_cold(db: Path, fmt: str, out: Path, runs: int) -> list[float]:
    command = [sys.executable, "-m", "kpis.cli", "export", "--db", str(db), "--force",
               PACK_FORCE, "--period", PERIOD.strftime("%Y-%m"), "--format", fmt,
               "--out", str(out)]
    times = []
    for _ in range(runs):
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        times.append(time.perf_counter() - start)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n"
                               f"{done.stderr.strip()}")
    return times


def pack_warm(service: FlightDeckService, fmt: str, out: Path, runs: int) -> list[float]:
    def build() -> None:
        build_pack(service, PACK_FORCE, PERIOD, fmt, out=out,  # type: ignore[arg-type]
                   commentary=service.all_commentary(PACK_FORCE, PERIOD))

    build()  # warm-up: renderer started, data and tables cached
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return times


def packs(db: Path, folder: Path, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for fmt in FORMATS:
        out = folder / f"cold.{fmt}"
        cold = pack_cold(db, fmt, out, runs)
        size = out.stat().st_size
        results[fmt] = {"cold_s": summary(cold), "bytes": size, "mb": size / 1e6,
                        "pages": pages(out)}
        if fmt == "docx":
            results[fmt]["pages_libreoffice"] = laid_out_pages(out)
        print(f"  {fmt} cold: {statistics.median(cold):.1f} s", flush=True)
    service = FlightDeckService(db)
    try:
        for fmt in FORMATS:
            out = folder / f"warm.{fmt}"
            warm = pack_warm(service, fmt, out, runs)
            results[fmt]["warm_s"] = summary(warm)
            results[fmt]["warm_bytes"] = out.stat().st_size
            print(f"  {fmt} warm: {statistics.median(warm):.1f} s", flush=True)
    finally:
        render.shutdown()
        service.close()
    return results


# --------------------------------------------------------------------------- during a job


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_for_http(url: str, server: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with OPENER.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"no answer from {url} in {timeout:.0f} s")


def download(base: str, force: str) -> float:
    """One SPC chart PNG (print resolution), as the KPI page's download link asks."""
    url = (f"{base}/download/chart/spc/{CHART_KPI}.png?force={force}"
           f"&period={PERIOD.strftime('%Y-%m')}")
    start = time.perf_counter()
    try:
        with OPENER.open(url, timeout=60) as response:
            body = response.read()
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as refused:
        raise RuntimeError(f"GET {url}: {refused.code} {refused.read().decode()[:300]}"
                           ) from None
    elapsed = time.perf_counter() - start
    if not kind.startswith("image/png") or not body.startswith(b"\x89PNG"):
        raise RuntimeError(f"GET {url}: {kind}, not a PNG")
    return elapsed


def stop(server: subprocess.Popen[bytes]) -> None:
    """End the server we started and its renderer (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def during_job(db: Path, folder: Path, repeats: int) -> dict[str, Any]:
    service = FlightDeckService(db)
    forces = [f for f in service.dataset().forces["slug"] if f != PACK_FORCE]
    service.close()
    if len(forces) < 2 * repeats + 1:
        raise RuntimeError(f"need {2 * repeats + 1} forces, the data has {len(forces)}")
    warmup, before, during = forces[0], forces[1:1 + repeats], forces[1 + repeats:]
    during = during[:repeats]
    port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("FLIGHTDECK_")}
    env.update(FLIGHTDECK_DB=str(db), FLIGHTDECK_PORT=str(port), FLIGHTDECK_HOST="127.0.0.1",
               PYTHONPATH=str(ROOT))
    log_path = folder / "server.log"
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        runner: JobRunner | None = None
        try:
            started = time.perf_counter()
            wait_for_http(base + "/", server)
            results["server_start_s"] = time.perf_counter() - started
            results["warmup_download_s"] = download(base, warmup)  # the server's renderer
            without = [download(base, force) for force in before]
            results["without_job_s"] = summary(without)

            job = folder / "jobs" / "bench-pack"
            job.mkdir(parents=True)
            request = PackRequest(
                db_path=str(db), security_path=str(security_db_path(db)),
                principal=Principal("bench", Role.ADMIN), address="", force=PACK_FORCE,
                period=PERIOD, fmt="pdf", name="bench-pack", marking="OFFICIAL-SENSITIVE",
                full=True)
            runner = JobRunner(workers=2)
            submitted = time.perf_counter()
            runner.submit(job, "pack", pack_job, request, str(job))
            while True:
                status = read_status(job)
                if status is not None and status.finished:
                    raise RuntimeError(f"the pack job ended ({status.state}: "
                                       f"{status.message}) before it drew its charts")
                if (status is not None and status.state == "running"
                        and status.message.startswith("Drawing")):
                    break
                if time.perf_counter() - submitted > 300:
                    raise RuntimeError("the pack job did not start drawing in 300 s")
                time.sleep(0.05)
            results["job_drawing_after_s"] = time.perf_counter() - submitted
            results["job_message"] = status.message
            with_job = [download(base, force) for force in during]
            after = read_status(job)
            results["with_job_s"] = summary(with_job)
            results["job_state_after_downloads"] = after.state if after else None
            results["job_message_after_downloads"] = after.message if after else None
            results["job_running_throughout"] = bool(after and not after.finished)
            while not ((status := read_status(job)) and status.finished):
                if time.perf_counter() - submitted > 600:
                    raise RuntimeError("the pack job did not finish in 600 s")
                time.sleep(0.1)
            results["job_wall_s"] = time.perf_counter() - submitted
            results["job_state"] = status.state
            results["job_result"] = status.result
            if status.state != "done":
                raise RuntimeError(f"the pack job {status.state}: {status.message}")
            results["job_pages"] = pages(job / request.file_name)
        finally:
            if runner is not None:
                runner.shutdown()
            stop(server)
    results["ratio"] = results["with_job_s"]["median"] / results["without_job_s"]["median"]
    return results


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def report(results: dict[str, Any]) -> list[str]:
    lines = [f"{'measure':44} {'measured':>22}  {'target':18} verdict"]

    def row(name: str, measured: str, target: str, ok: bool) -> None:
        lines.append(f"{name:44} {measured:>22}  {target:18} {verdict(ok)}")

    chart = results["chart_png_warm_s"]
    row("chart PNG 3600x2025, warm (median)", f"{chart['median']:.2f} s",
        f"< {CHART_TARGET} s", chart["median"] < CHART_TARGET)
    for fmt in FORMATS:
        pack = results["default_pack"][fmt]
        row(f"default pack {fmt.upper()}, cold (median of {len(pack['cold_s']['runs'])})",
            f"{pack['cold_s']['median']:.1f} s", f"< {COLD_TARGET:.0f} s",
            pack["cold_s"]["median"] < COLD_TARGET)
        row(f"default pack {fmt.upper()}, warm (median of {len(pack['warm_s']['runs'])})",
            f"{pack['warm_s']['median']:.1f} s", f"< {WARM_TARGET:.0f} s",
            pack["warm_s"]["median"] < WARM_TARGET)
        row(f"default pack {fmt.upper()}, size", f"{pack['mb']:.2f} MB",
            f"< {SIZE_TARGET_MB:.0f} MB", pack["mb"] < SIZE_TARGET_MB)
        noun = {"pdf": "pages", "pptx": "slides", "docx": "pages (breaks)"}[fmt]
        row(f"default pack {fmt.upper()}, {noun}", str(pack["pages"]),
            f"<= {PAGE_TARGET}", pack["pages"] <= PAGE_TARGET)
        if pack.get("pages_libreoffice") is not None:
            row(f"default pack {fmt.upper()}, pages (LibreOffice)",
                str(pack["pages_libreoffice"]), f"<= {PAGE_TARGET}",
                pack["pages_libreoffice"] <= PAGE_TARGET)
    job = results["chart_download_during_pack_job"]
    row("chart download over HTTP, no job (median)", f"{job['without_job_s']['median']:.2f} s",
        "(reference)", True)
    row("chart download during full PDF pack job", f"{job['with_job_s']['median']:.2f} s",
        f"< {DOWNLOAD_TARGET:.0f} s", job["with_job_s"]["median"] < DOWNLOAD_TARGET)
    row("  ... during job / without job", f"{job['ratio']:.2f}x",
        f"<= {DOWNLOAD_RATIO_TARGET:.0f}x", job["ratio"] <= DOWNLOAD_RATIO_TARGET)
    lines.append(f"  job still running after the downloads: "
                 f"{'yes' if job['job_running_throughout'] else 'NO'} "
                 f"({job['job_state_after_downloads']}: {job['job_message_after_downloads']})")
    lines.append(f"  full PDF pack job: {job['job_wall_s']:.1f} s wall from submit "
                 f"(drawing after {job['job_drawing_after_s']:.1f} s: {job['job_message']}), "
                 f"{job['job_result']['bytes'] / 1e6:.2f} MB, {job['job_pages']} pages")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="DuckDB file (default: data/flightdeck.duckdb)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="charts timed, and downloads with and without a job")
    parser.add_argument("--runs", type=int, default=3, help="builds timed per pack format")
    args = parser.parse_args()
    source = database(args.db)
    began = time.perf_counter()
    load_at_start = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-export-") as scratch:
        folder = Path(scratch)
        db = copy_database(source, folder)
        print("chart PNG, warm ...", flush=True)
        charts = chart_warm(db, args.repeats, folder)
        print("default packs, cold then warm ...", flush=True)
        default = packs(db, folder, args.runs)
        print("chart downloads with and without a pack job ...", flush=True)
        job = during_job(db, folder, args.repeats)
    results = {
        "machine": {"cpus": os.cpu_count(), "load_average": list(os.getloadavg()),
                    "load_average_at_start": load_at_start},
        "database": str(source),
        "force": PACK_FORCE,
        "period": PERIOD.strftime("%Y-%m"),
        "chart_png_warm_s": {**summary(charts), "target": CHART_TARGET},
        "default_pack": default,
        "chart_download_during_pack_job": job,
        "targets": {"chart_png_warm_s": CHART_TARGET, "pack_cold_s": COLD_TARGET,
                    "pack_warm_s": WARM_TARGET, "pack_mb": SIZE_TARGET_MB,
                    "pack_pages": PAGE_TARGET, "download_during_job_s": DOWNLOAD_TARGET,
                    "download_during_job_ratio": DOWNLOAD_RATIO_TARGET},
        "bench_seconds": time.perf_counter() - began,
    }
    print()
    print("\n".join(report(results)))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"load average at start {load_at_start[0]:.2f}, at end "
          f"{results['machine']['load_average'][0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"wrote {RESULTS.relative_to(ROOT)} ({results['bench_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
