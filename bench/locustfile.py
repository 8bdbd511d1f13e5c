"""Locust users for the load test: chief officers and PCC staff browsing the flight
deck, KPI pages and force comparisons, as the browser does (page HTML, then the Dash
page callback with the view in the URL query). Loopback only.

``BENCH_HOSTS`` (comma separated, set by ``bench/bench_national.py``) spreads
the users over several app servers in turn, each user keeping to one, as a load
balancer with sticky sessions would; unset, every user uses ``--host``."""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import FastHttpUser, between, task
from locust.env import Environment

FORCES = ["kent", "durham", "metropolitan", "gwent", "england-and-wales", "lancashire",
          "west-midlands", "cumbria", "essex", "sussex", "thames-valley", "dorset"]
PERIODS = ["2025-09", "2025-08", "2025-06", "2025-03", "2024-12", "2024-09"]
KPIS = ["ho_rape_charge_rate", "suspect_contact_30d", "victims_code_compliance",
        "investigators_accredited", "device_return_days", "repeat_suspects_managed"]


ROUTER = ".._pages_content.children..._pages_store.data.."


def page_payload(path: str, search: str, state: list[dict[str, object]] | None = None
                 ) -> dict[str, object]:
    """The page router's request; ``state``: the router's state entries as the app's
    /_dash-dependencies lists them (sent empty, as a first page load sends them)."""
    return {
        "output": ROUTER,
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [{**s, "value": None} for s in state or []],
    }


HOSTS = itertools.cycle(
    [h for h in os.environ.get("BENCH_HOSTS", "").split(",") if h] or [None])


class Viewer(FastHttpUser):  # the gevent client: the load generator shares the 2 cores
    wait_time = between(0.5, 2.0)

    def __init__(self, environment: Environment) -> None:
        host = next(HOSTS)
        if host:
            self.host = host  # before the client is made, which takes its base URL
        super().__init__(environment)

    def on_start(self) -> None:
        # The router's state entries (routing state such as a view switched in place).
        answer = self.client.get("/_dash-dependencies", name="GET dependencies")
        dependencies = json.loads(answer.content or b"[]")
        router = next((d for d in dependencies if d["output"] == ROUTER), {})
        self.router_state = router.get("state", [])

    def view(self, path: str, extra: str = "") -> None:
        search = f"?force={random.choice(FORCES)}&period={random.choice(PERIODS)}{extra}"
        self.client.get(path + search, name=f"GET {path.split('/')[1] or 'home'}")
        payload = page_payload(path, search, self.router_state)
        self.client.post("/_dash-update-component", data=json.dumps(payload),
                         headers={"Content-Type": "application/json"},
                         name=f"page {path.split('/')[1] or 'home'}")

    @task(4)
    def flight_deck(self) -> None:
        self.view("/")

    @task(3)
    def kpi_page(self) -> None:
        self.view(f"/kpi/{random.choice(KPIS)}")

    @task(2)
    def compare(self) -> None:
        self.view("/compare", f"&kpi={random.choice(KPIS)}")
