"""Production serving: ``gunicorn -c gunicorn.conf.py app:server``.

Each worker opens the DuckDB file read-only, lazily, after the fork (nothing in
``app`` opens it at import), so preloading the app in the master is safe and saves
memory. The master builds the demonstration database first if there is no database
file yet, exactly as ``python app.py`` does.
"""

from __future__ import annotations

import os

bind = os.environ.get("FLIGHTDECK_BIND", "127.0.0.1:8050")
workers = int(os.environ.get("FLIGHTDECK_WORKERS", "2"))
threads = int(os.environ.get("FLIGHTDECK_THREADS", "4"))
worker_class = "gthread"
preload_app = True
timeout = 60
# Longer than a browsing user's pause: a shorter keep-alive races the client's next
# request on a reused connection and shows up as "connection reset by peer".
keepalive = 30
graceful_timeout = 20
accesslog = os.environ.get("FLIGHTDECK_ACCESS_LOG")  # None: no access log
errorlog = "-"


def on_starting(server: object) -> None:
    # Runs in the master before any worker forks; the build closes the database again.
    from app import ensure_database
    from kpis.settings import SecurityConfig, resolve_db_path
    from kpis.storage.security import SecurityStore, UnsecuredStart, check_start, security_db_path

    database = ensure_database(resolve_db_path())
    # Refuse to put the unsecured demonstration on the network. The users file is
    # opened and closed again here: workers open their own after the fork.
    store = SecurityStore(security_db_path(database))
    try:
        for address in [bind] if isinstance(bind, str) else bind:
            check_start(_host(address), SecurityConfig.from_env(), store)
    except (UnsecuredStart, ValueError) as problem:
        raise SystemExit(f"flightdeck: {problem}") from None
    finally:
        store.close()


def _host(address: str) -> str:
    """The host part of a gunicorn bind address ("unix:" sockets stay on this machine)."""
    if address.startswith("unix:"):
        return "localhost"
    host, _, _ = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0"
