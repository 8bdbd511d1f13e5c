"""Production serving: ``gunicorn -c gunicorn.conf.py app:server``.

Every setting comes from :class:`kpis.settings.Settings` (``FLIGHTDECK_BIND``,
``FLIGHTDECK_WORKERS``, ``FLIGHTDECK_THREADS``, ``FLIGHTDECK_ACCESS_LOG``,
``FLIGHTDECK_DB`` and the sign-in settings; README: Settings). Each worker opens the
DuckDB file read-only, lazily, after the fork (``app:server`` builds the app without
opening it), so preloading the app in the master is safe and saves memory. The master
builds the demonstration database first if there is no database file yet, exactly as
``python app.py`` does.
"""

from __future__ import annotations

from kpis.settings import Settings

try:
    settings = Settings.from_env()
except ValueError as problem:
    raise SystemExit(f"flightdeck: {problem}") from None

bind = settings.bind
workers = settings.workers
threads = settings.threads
worker_class = "gthread"
preload_app = True
timeout = 60
# Longer than a browsing user's pause: a shorter keep-alive races the client's next
# request on a reused connection and shows up as "connection reset by peer".
keepalive = 30
graceful_timeout = 20
accesslog = settings.access_log  # None: no access log
errorlog = "-"


def on_starting(server: object) -> None:
    # Runs in the master before any worker forks; the build closes the database again.
    from app import check_start, ensure_database

    ensure_database(settings.db_path)
    # Refuse to put the unsecured demonstration on the network. The users file is
    # opened and closed again here: workers open their own after the fork. The
    # addresses are gunicorn's own, after its command line (-b) and GUNICORN_CMD_ARGS,
    # not only the FLIGHTDECK_BIND this file asked for.
    addresses = getattr(getattr(server, "cfg", None), "bind", None) or bind
    addresses = [addresses] if isinstance(addresses, str) else addresses
    check_start(settings, [_host(address) for address in addresses])


def _host(address: str) -> str:
    """The host part of a gunicorn bind address ("unix:" sockets stay on this machine)."""
    if address.startswith("unix:"):
        return "localhost"
    host, _, _ = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0"
