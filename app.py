"""The NOM flight deck web app: wiring only (settings, store, security, pages, routes).

Nothing is built when this module is imported. :func:`create_app` builds an app from
:class:`kpis.settings.Settings`; ``server`` (for a WSGI server: ``gunicorn app:server``)
is built on first access, once, from ``Settings.from_env()``. ``python app.py`` serves
on http://127.0.0.1:8050 (``FLIGHTDECK_HOST``, ``FLIGHTDECK_PORT``), building the
demonstration database first if the file is missing; ``flightdeck serve`` does the same
through :func:`serve_command` (the ``flightdeck.commands`` entry point). The database
is opened lazily, read-only, in each worker after the fork.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from kpis.settings import CATALOGUE_FILE, PROJECT_ROOT, Location, Settings, keep_files_private

if TYPE_CHECKING:
    import dash
    import flask

TITLE = "NOM flight deck"

# Dash's default page has no lang attribute, which fails WCAG 3.1.1.
INDEX_STRING = """<!DOCTYPE html>
<html lang="en-GB">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
    </head>
    <body>
        <noscript>
            <h1>NOM flight deck</h1>
            <p>This dashboard needs JavaScript. It shows the Operation Soteria National
            Operating Model measures for rape and serious sexual offences by pillar:</p>
            <ol>%(pillars)s</ol>
        </noscript>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def ensure_database(db_path: Location, progress: Callable[[str], None] = print) -> Location:
    """Build the demonstration database if there is no database file yet. A PostgreSQL
    database (a URL) is never filled with demonstration data: a national deployment's
    comes from `flightdeck copy` or `flightdeck catalogue load`."""
    if isinstance(db_path, Path) and not db_path.exists():
        from kpis.exports.stored_kpi_csv import refresh_stored_csv
        from kpis.ingest.demo import build_demo

        progress(f"No database at {db_path}: building demonstration data (a few seconds)")
        build_demo(db_path, progress=progress)
        refresh_stored_csv(db_path)  # the whole catalogue's CSV, for flightdeck kpis
    return db_path


def use_fast_json() -> None:
    """Encode Dash responses with orjson (several times faster than the standard library;
    a dependency, so its absence is an install fault, not a silent fallback)."""
    import plotly.io.json

    from web import fast_json

    plotly.io.json.config.default_engine = "orjson"
    fast_json.install()  # and orjson walks the component tree itself, in C


def create_app(settings: Settings | None = None) -> dash.Dash:
    """Build the Dash app over ``settings.db_path`` (opened on the first request that
    needs it); None means ``Settings.from_env()``.

    The users file is ``settings.security_db_path`` and the key that signs session
    cookies is kept beside the database (``settings.secret_key_path``) unless
    ``FLIGHTDECK_SECRET_KEY`` gives one. Several apps may be built in one process
    (tests serve some side by side): each claims its own page callbacks.
    """
    import dash

    from kpis.domain.catalogue import read_catalogue
    from kpis.service import FlightDeckService
    from layouts._live import LIVE_VIEW_ARGUMENT
    from web import ids, security
    from web.context import SERVICE_KEY
    from web.downloads import register_downloads
    from web.exports import register_exports
    from web.feeds import register_feeds
    from web.response_cache import install as install_response_cache
    from web.templates import register_templates
    from web.uploads import MAIL_KEY, register_uploads

    settings = settings or Settings.from_env()
    keep_files_private()
    # Pages register themselves on import; a second app in one process (tests) must
    # start from an empty registry.
    dash.page_registry.clear()
    use_fast_json()
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(PROJECT_ROOT / "layouts"),
        assets_folder=str(PROJECT_ROOT / "assets"),
        title=TITLE,
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
        compress=True,  # gzip responses (flask-compress): layouts and figures shrink ~8x
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        # A view switched in place (layouts/_live.py) tells the router to stand aside.
        routing_callback_inputs={LIVE_VIEW_ARGUMENT: dash.State(ids.LIVE_VIEW, "data")},
    )
    _claim_page_callbacks(app)
    pillars = read_catalogue(CATALOGUE_FILE).pillars
    # Level 3 gzip: nearly the size of level 6 at a fraction of the CPU, which is what
    # runs out first when many people use the flight deck on a small server.
    app.server.config.setdefault("COMPRESS_LEVEL", 3)
    app.index_string = INDEX_STRING.replace(
        "%(pillars)s", "".join(f"<li>{html.escape(p.name)}</li>" for p in pillars)
    )
    service = FlightDeckService(settings.db_path, security_path=settings.security_db_path)
    app.server.config[SERVICE_KEY] = service
    app.server.config[security.STORE_KEY] = service.security
    app.server.config[MAIL_KEY] = settings.mail  # loads send subscribed board packs
    security.install(app, settings.security, settings.secret_key_path)

    from layouts._shell import register_shell, shell_layout

    app.layout = shell_layout
    register_shell(app)
    register_downloads(app)
    register_exports(app, settings.redis_url)  # national mode: Celery workers
    register_feeds(app)
    register_templates(app)
    register_uploads(app)
    # Last: it wraps the callback route as the request checks left it.
    install_response_cache(app)
    return app


def _claim_page_callbacks(app: dash.Dash) -> None:
    """Move the page modules' callbacks (``dash.callback``, registered process-wide as
    the pages were imported) to ``app`` now.

    Dash hands them to whichever app serves its first request: with a second app built
    before that (two apps in one process), one app would get both sets and the other
    none. The pages were imported afresh for this app, so these are its own.
    """
    from dash import _callback

    for key in list(_callback.GLOBAL_CALLBACK_MAP):
        app.callback_map[key] = _callback.GLOBAL_CALLBACK_MAP.pop(key)
    app._callback_list.extend(_callback.GLOBAL_CALLBACK_LIST)
    _callback.GLOBAL_CALLBACK_LIST.clear()


def check_start(settings: Settings, hosts: Iterable[str]) -> None:
    """Refuse (SystemExit with the reason) to serve on an address other computers can
    reach unless sign-in is configured. The users file is opened only to count the
    accounts, and closed again: the app (each worker, after a fork) opens its own."""
    from kpis.storage.security import SecurityStore, UnsecuredStart
    from kpis.storage.security import check_start as check_host

    store = SecurityStore(settings.security_db_path)
    try:
        for host in hosts:
            check_host(host, settings.security, store)
    except (UnsecuredStart, ValueError) as problem:
        raise SystemExit(f"flightdeck: {problem}") from None
    finally:
        store.close()


def serve(settings: Settings | None = None, debug: bool = False) -> None:
    """Serve the app over ``settings.db_path`` on ``settings.host``:``settings.port``,
    building demonstration data if the database is missing.

    Refuses (SystemExit with the reason) to serve on an address other computers can
    reach unless sign-in is configured.
    """
    from web.warm import prepare_process, start_rewarming, warm_up

    prepare_process()  # before any thread starts
    settings = settings or _settings_or_exit()
    database = ensure_database(settings.db_path)
    check_start(settings, [settings.host])
    app = create_app(settings)
    from werkzeug.serving import is_running_from_reloader

    if not debug or is_running_from_reloader():  # not the reloader's watching parent
        warm_up(app.server)  # the data loaded and the opening view drawn before listening
        start_rewarming(app.server)
    print(f"Serving the flight deck on http://{settings.host}:{settings.port}/ from "
          f"{database}", file=sys.stderr)
    app.run(host=settings.host, port=settings.port, debug=debug)


def serve_command(args: argparse.Namespace) -> int:
    """``flightdeck serve [--db PATH] [--host H] [--port P] [--debug]``: the handler the
    command line finds through the ``flightdeck.commands`` entry point (kpis never
    imports this module). ``--db`` picks the database, its users file and its key."""
    settings = _settings_or_exit(db=args.db)
    changes = {key: value for key, value in (("host", args.host), ("port", args.port))
               if value is not None}
    serve(dataclasses.replace(settings, **changes), debug=args.debug)
    return 0


def _settings_or_exit(db: str | None = None) -> Settings:
    try:
        return Settings.from_env(db=db)
    except ValueError as problem:
        raise SystemExit(f"flightdeck: {problem}") from None


# ``server``, for a WSGI server (gunicorn app:server), is built on first access (PEP 562),
# once per process: importing this module builds nothing and writes nothing.
_server: flask.Flask | None = None
_server_lock = threading.Lock()


def __getattr__(name: str) -> object:
    if name == "server":
        global _server
        with _server_lock:
            if _server is None:
                _server = create_app(_settings_or_exit()).server
        return _server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    serve()
