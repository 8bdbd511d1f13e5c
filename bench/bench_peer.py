"""The flight deck beside a peer build of it (e.g. a Streamlit app over the same DuckDB
file), when one is present: first load and bytes over the wire, in Debian's headless
Chromium, as ratios (the two share this machine, so ratios, not absolute figures, are
what compare).

Run from the project root::

    python bench/bench_peer.py [--peer URL] [--loads 5]

``--peer``: the peer's page showing the same flight deck.
Without one, only the project's own figures are measured and the ratios are left out
(the peer is not part of this project and is never downloaded).

How a load is timed, the same way for both apps (nothing app-specific):

1. A fresh browser context (empty cache: a first visit) opens the address.
2. A script installed before the page's own notes the time of every change to the
   document (a MutationObserver) and Chrome's DevTools protocol counts the bytes
   received: every response's encoded length and every WebSocket frame (a Streamlit
   app sends its data over one).
3. Once the network has been idle and the document unchanged for a second, the load
   time is the last change's time after navigation start: when the page was done
   drawing.

Results: printed and written to ``bench/results/peer.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import ensure_demo_db, server  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_port, wait_for_http  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "peer.json"
SETTLED_S = 1.0  # unchanged for this long: done drawing
LIMIT_S = 60.0

LAST_CHANGE = """() => {
  window.__lastChange = 0;
  new MutationObserver(() => { window.__lastChange = performance.now(); })
    .observe(document, {subtree: true, childList: true, characterData: true,
                        attributes: true});
}"""


def one_load(browser: Any, url: str) -> dict[str, float]:
    """A first visit to ``url``: when it was done drawing (ms) and the bytes received."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(f"({LAST_CHANGE})()")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        received = {"bytes": 0.0}

        def finished(event: dict[str, Any]) -> None:
            received["bytes"] += float(event.get("encodedDataLength", 0))

        def frame(event: dict[str, Any]) -> None:
            received["bytes"] += len(event.get("response", {}).get("payloadData", ""))

        cdp.on("Network.loadingFinished", finished)
        cdp.on("Network.webSocketFrameReceived", frame)
        page.goto(url, wait_until="networkidle", timeout=int(LIMIT_S * 1000))
        started = time.monotonic()
        last, since = page.evaluate("() => window.__lastChange"), time.monotonic()
        while time.monotonic() - since < SETTLED_S:
            if time.monotonic() - started > LIMIT_S:
                raise RuntimeError(f"{url} kept changing for {LIMIT_S:.0f} s")
            page.wait_for_timeout(100)
            now = page.evaluate("() => window.__lastChange")
            if now != last:
                last, since = now, time.monotonic()
        return {"load_ms": float(last), "bytes": received["bytes"]}
    finally:
        context.close()


def measure(browser: Any, url: str, loads: int) -> dict[str, Any]:
    one_load(browser, url)  # untimed: the server's own first request is warmed
    runs = [one_load(browser, url) for _ in range(loads)]
    return {"url": url, "runs": runs,
            "load_median_ms": statistics.median(r["load_ms"] for r in runs),
            "bytes_median": statistics.median(r["bytes"] for r in runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", help="the peer's flight deck page (its URL)")
    parser.add_argument("--loads", type=int, default=5, help="timed first visits each")
    parser.add_argument("--db", default=os.environ.get("FLIGHTDECK_DB",
                                                        "/tmp/flightdeck-bench/app.duckdb"))
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    db = ensure_demo_db(Path(args.db))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server("app", db, port):
        wait_for_http(base + "/", timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=CHROMIUM_ARGS)
            ours = measure(browser, base + "/", args.loads)
            peer = measure(browser, args.peer, args.loads) if args.peer else None
            browser.close()
    result: dict[str, Any] = {"ours": ours, "peer": peer}
    print(f"{'first visit (done drawing)':34} {'ours':>10} {'peer':>10} {'ratio':>8}")
    rows = (("load, median ms", "load_median_ms", 1.0),
            ("bytes received, median KB", "bytes_median", 1 / 1024))
    for label, key, scale in rows:
        mine = ours[key] * scale
        if peer is None:
            print(f"{label:34} {mine:10.0f} {'-':>10} {'-':>8}")
            continue
        theirs = peer[key] * scale
        result[f"{key}_ratio"] = theirs / mine if mine else None
        print(f"{label:34} {mine:10.0f} {theirs:10.0f} {theirs / mine:7.2f}x")
    if peer is None:
        print("\nno peer present (--peer URL): the ratios are left out")
    else:
        print("\nratio: the peer's figure over ours (above 1: the flight deck is ahead)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
