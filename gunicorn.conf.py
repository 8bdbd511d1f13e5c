"""Production serving: ``gunicorn -c gunicorn.conf.py app:server``.

Every setting comes from :class:`kpis.settings.Settings` (``FLIGHTDECK_BIND``,
``FLIGHTDECK_WORKERS``, ``FLIGHTDECK_THREADS``, ``FLIGHTDECK_ACCESS_LOG``,
``FLIGHTDECK_DB`` and the sign-in settings; README: Settings). Each worker opens the
DuckDB file read-only after the fork (``app:server`` builds the app without opening
it), so preloading the app in the master is safe and saves memory: in
``post_worker_init``, before it takes a request, each worker loads the data,
precomputes it and draws the opening view (``web.warm``). The master builds the
demonstration database first if there is no database file yet, exactly as
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


def when_ready(server: object) -> None:
    # The master, with the app preloaded (it opens no database): cap malloc's arenas
    # for the workers' threads, and freeze what the workers share so that their
    # collections never walk (and copy) it.
    import gc

    from web.warm import prepare_process

    prepare_process()
    gc.collect()
    gc.freeze()


def post_worker_init(worker: object) -> None:
    # In each worker after the fork, before it takes a request: open the database
    # read-only, load and precompute the data, draw the opening view, then keep
    # garbage collection out of the request path (web/warm.py); and warm each new
    # data version as it is published.
    from web.warm import start_rewarming, warm_up

    flask_app = getattr(worker, "wsgi", None)
    if flask_app is not None and hasattr(flask_app, "config"):
        warm_up(flask_app)
        start_rewarming(flask_app)


def _host(address: str) -> str:
    """The host part of a gunicorn bind address ("unix:" sockets stay on this machine)."""
    if address.startswith("unix:"):
        return "localhost"
    host, _, _ = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0"
