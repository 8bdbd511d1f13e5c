"""The page tree cache (layouts/_cache.py) keys a page by the query keys it reads."""

from __future__ import annotations

from pathlib import Path

import flask

from kpis.domain.access import demo_principal
from layouts._cache import _read_keys, render_cached
from tests.conftest import app_over


def test_a_builder_reads_its_named_parameters_and_ignores_what_goes_to_underscore(
        ) -> None:
    def named(force: str | None = None, period: str | None = None, **_: str) -> None: ...
    def nothing(**_: str) -> None: ...
    def everything(**query: str) -> None: ...

    assert _read_keys(named) == {"force", "period"}
    assert _read_keys(nothing) == frozenset()
    assert _read_keys(everything) is None


def test_addresses_that_differ_only_in_keys_a_page_ignores_share_one_build(
        demo_db: Path) -> None:
    app = app_over(demo_db)
    built: list[dict[str, str]] = []

    def page(force: str | None = None, **_: str) -> dict[str, str | None]:
        built.append({"force": force or ""})
        return {"force": force}

    def every_key(**query: str) -> dict[str, str]:
        built.append(dict(query))
        return dict(query)

    with app.server.test_request_context("/"):
        flask.g.principal = demo_principal()  # as web.security sets it
        first = render_cached(page, {"force": "kent", "period": "2025-09"})
        again = render_cached(page, {"force": "kent", "period": "2025-06", "x": "1"})
        other = render_cached(page, {"force": "durham"})
        assert first is again and first == {"force": "kent"}
        assert other == {"force": "durham"}
        # A builder whose ** is not "_" may read any key: each query is its own page.
        render_cached(every_key, {"a": "1"})
        render_cached(every_key, {"a": "2"})
    assert built == [{"force": "kent"}, {"force": "durham"}, {"a": "1"}, {"a": "2"}]
