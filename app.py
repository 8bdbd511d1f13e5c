"""The NOM flight deck web app: wiring only (config, store, pages).

``python app.py`` serves on http://127.0.0.1:8050, building the demonstration
database first if the file is missing. ``server`` is the Flask app for a WSGI
server (e.g. ``gunicorn app:server``); the database is opened lazily, read-only, in
each worker after the fork.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable
from pathlib import Path

import dash

from kpis.domain.catalogue import read_catalogue
from kpis.service import FlightDeckService
from kpis.settings import CATALOGUE_FILE, PROJECT_ROOT, SecurityConfig, resolve_db_path
from kpis.storage.security import SecurityStore, UnsecuredStart, check_start, security_db_path
from web import security as _security
from web.context import SERVICE_KEY

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


def ensure_database(db_path: Path, progress: Callable[[str], None] = print) -> Path:
    """Build the demonstration database if there is no database file yet."""
    if not db_path.exists():
        from kpis.ingest.demo import build_demo

        progress(f"No database at {db_path}: building demonstration data (a few seconds)")
        build_demo(db_path, progress=progress)
    return db_path


def use_fast_json() -> None:
    """Encode Dash responses with orjson (several times faster than the standard library;
    a dependency, so its absence is an install fault, not a silent fallback)."""
    import plotly.io.json

    plotly.io.json.config.default_engine = "orjson"


def create_app(db_path: Path | None = None) -> dash.Dash:
    """Build the Dash app over the database at ``db_path`` (not opened until needed)."""
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
    )
    pillars = read_catalogue(CATALOGUE_FILE).pillars
    # Level 3 gzip: nearly the size of level 6 at a fraction of the CPU, which is what
    # runs out first when many people use the flight deck on a small server.
    app.server.config.setdefault("COMPRESS_LEVEL", 3)
    app.index_string = INDEX_STRING.replace(
        "%(pillars)s", "".join(f"<li>{html.escape(p.name)}</li>" for p in pillars)
    )
    service = use_database(app, resolve_db_path(db_path))
    _security.install(app, service.security.path.parent, SecurityConfig.from_env())

    from layouts._shell import register_shell, shell_layout

    app.layout = shell_layout
    register_shell(app)
    return app


def use_database(app: dash.Dash, db_path: Path) -> FlightDeckService:
    """Serve ``db_path`` (opened lazily) and sign people in against its users file."""
    service = FlightDeckService(db_path)
    app.server.config[SERVICE_KEY] = service
    app.server.config[_security.STORE_KEY] = service.security
    return service


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 8050, debug: bool = False) -> None:
    """Serve this module's app over ``db_path``, building demonstration data if missing.

    Refuses (SystemExit with the reason) to serve on an address other computers can
    reach unless sign-in is configured.
    """
    database = ensure_database(db_path)
    store = SecurityStore(security_db_path(database))
    try:
        check_start(host, SecurityConfig.from_env(), store)
    except (UnsecuredStart, ValueError) as problem:
        raise SystemExit(f"flightdeck: {problem}") from None
    finally:
        store.close()  # opened only to count users: the app opens its own
    use_database(app, database)
    print(f"Serving the flight deck on http://{host}:{port}/ from {database}", file=sys.stderr)
    app.run(host=host, port=port, debug=debug)


# One app per process: Dash Pages registers page callbacks globally on import.
app = create_app()
server = app.server

if __name__ == "__main__":
    serve(
        resolve_db_path(),
        host=os.environ.get("FLIGHTDECK_HOST", "127.0.0.1"),
        port=int(os.environ.get("FLIGHTDECK_PORT", "8050")),
    )
