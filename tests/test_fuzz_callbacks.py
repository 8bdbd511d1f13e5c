"""Fuzz every server-side Dash callback through the real endpoint (issue #7).

Each callback the app declares (read from ``/_dash-dependencies``, as the browser
reads it) is sent hypothesis-generated values for every input and state through
``POST /_dash-update-component`` on the Flask test client of ``app.create_app``.
A browser only ever sends what the page's components hold, but anyone can post to
the endpoint: whatever arrives, the answer must be 200 (an update), 204 (nothing to
update) or a short 4xx, never a 500 and never a Python traceback.

The app runs over a private copy of the demonstration database, because some
callbacks write (commentary, recommendation progress, uploads and loads): once in
the open demonstration mode (no accounts configured) and once with accounts,
signed in as an analyst whose account covers one force, so that every refusal of
force scoping is fuzzed too. An upload is fuzzed all the way to a load, which
either loads or leaves the database file byte-for-byte unchanged.
Chromium is pointed at a path that does not exist, so a pack request that gets past
validation ends in the page's own "charts cannot be drawn" message in milliseconds
instead of drawing charts for seconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kpis.settings import NATIONAL_SLUG
from kpis.storage.security import security_db_path
from tests.conftest import ACCOUNTS, app_over
from tests.uploading import batch_folder, upload, wait_for_job
from web.ids import PAGE_ERROR
from web.uploads import UPLOAD_PATH

pytestmark = pytest.mark.slow  # hundreds of generated requests

ENDPOINT = "/_dash-update-component"
# Reproducible in CI: the same examples every run, and no example database.
FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
EXAMPLES_PER_CALLBACK = 25
SCOPED_EXAMPLES = 10
# Session cookies are Secure: a signed-in test client must speak https.
SECURE = "https://flightdeck.test"
# A clear refusal is short; a page of HTML or a dump of state is not.
MAX_ERROR_BODY = 500

# Values a real page would send, so that fuzzing reaches past the first type check
# into the code that does the work; mixed with arbitrary JSON below.
FORCES = ["kent", "avon-and-somerset", "metropolitan", "essex", "Kent", NATIONAL_SLUG]
PERIODS = ["2025-08", "2025-09", "2019-04", "2025-13", "9999-99", "0000-01", "2025-9",
           "1900-01", "2099-12"]
KPIS = ["ho_rape_charge_rate", "cps_referrals", "device_return_days", "no_such_kpi"]
PATHS = ["/", "/pillar/1", "/pillar/6", "/pillar/0", "/pillar/x", "/kpi/ho_rape_charge_rate",
         "/kpi/../../etc/passwd", "/compare", "/definitions", "/data", "/upload",
         "/recommendations", "/scrutiny", "/board-pack", "/subscriptions",
         "/definitions/edit", "/data-feeds", "/accounts", "/no-such-page"]
QUERY_KEYS = ["force", "period", "comparator", "kpi", "group", "view", "baseline", "since", "q",
              "kpi_id", "number"]


def json_values() -> st.SearchStrategy[Any]:
    """Anything a JSON body can carry, including NaN, huge numbers and deep nesting."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
        st.text(min_size=2000, max_size=5000, alphabet=string.printable),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=8,
    )


def query_strings() -> st.SearchStrategy[str | None]:
    """Location ``search`` values: well-formed with odd values, and plain malformed."""
    value = st.one_of(st.sampled_from(FORCES + PERIODS + KPIS + ["region", "funnel", "x"]),
                      st.text(max_size=20))
    pairs = st.lists(st.tuples(st.sampled_from(QUERY_KEYS), value), max_size=5)
    return st.one_of(
        st.none(), st.just(""),
        pairs.map(lambda p: "?" + urlencode(p)),
        st.sampled_from(["?force=../../etc&period=9999-99", "?force=kent&force=essex",
                         "?%%%", "?=", "?&&&", "?period=2025-08-01T00:00",
                         "?force=%00&period=%ff", "?comparator[]=1", "force=kent",
                         "?q=" + "x" * 5000, "?baseline=all&kpi_id=nope"]),
        st.text(max_size=40).map(lambda t: "?" + t),
        st.text(max_size=40),
    )


def pathnames() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.sampled_from(PATHS),
                     st.text(max_size=40).map(lambda t: "/" + t),
                     st.text(max_size=40), st.just("/" + "a/" * 500))


def realistic(component: str, prop: str) -> st.SearchStrategy[Any]:
    """Values of the kind the component holds, for the properties we know."""
    known: dict[tuple[str, str], st.SearchStrategy[Any]] = {
        ("control-force", "value"): st.sampled_from(FORCES),
        ("control-period", "value"): st.sampled_from(PERIODS),
        ("control-comparator", "value"): st.sampled_from(["national", "region", "nope"]),
        ("compare-kpi", "value"): st.sampled_from(KPIS),
        ("compare-group", "value"): st.sampled_from(["region-london", NATIONAL_SLUG, "x"]),
        ("compare-view", "value"): st.sampled_from(["bars", "funnel", "pie"]),
        ("scrutiny-since", "value"): st.sampled_from(PERIODS),
        ("scrutiny-format", "value"): st.sampled_from(["pptx", "pdf", "docx", "exe"]),
        ("pack-format", "value"): st.sampled_from(["pptx", "pdf", "docx", "exe"]),
        ("pack-pillars", "value"): st.lists(st.integers(min_value=-1, max_value=8), max_size=7),
        ("pack-marking", "value"): st.sampled_from(["OFFICIAL", "", " ", "=cmd|' /C calc'!A0"]),
        ("pack-suppress", "value"): st.sampled_from([[], ["on"]]),
        ("subscription-force", "value"): st.sampled_from(FORCES),
        ("subscription-format", "value"): st.sampled_from(["pptx", "pdf", "docx", "exe"]),
        ("subscription-email", "value"): st.sampled_from(
            ["a@kent.police.uk", "", "x\r\nBcc: y@z.uk", "@", "a@" + "b" * 300]),
        ("kpi-baseline", "value"): st.sampled_from([[], ["on"]]),
        ("accounts-page", "data"): st.integers(min_value=-1, max_value=2**40),
        **{(component, "value"): st.sampled_from(["viewer", "analyst", "admin", "", "chief"])
           for component in ("accounts-role", "account-role", "account-new-role")},
        **{(component, "value"): st.sampled_from([*FORCES, "all", ""])
           for component in ("accounts-force", "account-force", "account-new-force")},
        ("accounts-status", "value"): st.sampled_from(["active", "disabled", "", "asleep"]),
        ("account-new-password-mode", "value"): st.sampled_from(["generate", "type", "sso",
                                                                 "x"]),
        ("progress-recommendation", "value"): st.sampled_from(["R1", "R5", "R99", ""]),
        ("progress-status", "value"): st.sampled_from(["in progress", "complete", "overdue",
                                                       "not started", ""]),
        ("upload-token", "data"): st.one_of(st.text(max_size=70),
                                            st.sampled_from(["a" * 24, "../" * 8, "."])),
        ("template-force", "value"): st.sampled_from(FORCES),
        ("template-from", "value"): st.sampled_from(PERIODS),
        ("template-to", "value"): st.sampled_from(PERIODS),
        ("template-format", "value"): st.sampled_from(["xlsx", "csv", "exe"]),
        ("template-prefill", "value"): st.sampled_from([[], ["on"]]),
        # A pack job's token: someone else's, a made-up one, one that climbs out.
        **{(f"{prefix}-job", "data"): st.one_of(
            st.none(), st.text(max_size=70), st.sampled_from(["a" * 24, "../" * 8, "."]))
           for prefix in ("pack", "scrutiny")},
    }
    if prop in ("n_clicks", "n_intervals"):
        return st.one_of(st.integers(min_value=-1, max_value=2**40), st.none())
    if prop == "pathname":
        return pathnames()
    if prop == "search":
        return query_strings()
    return known.get((component, prop), st.text(max_size=60))


def values_for(component: str, prop: str) -> st.SearchStrategy[Any]:
    """What to send for ``component.prop``: its kind of value, or anything at all."""
    return st.one_of(realistic(component, prop), json_values())


@pytest.fixture(scope="module")
def fuzz_db(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private, writable copy of the demonstration database for this module."""
    path = tmp_path_factory.mktemp("fuzz-callbacks") / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, path)
    return path


@pytest.fixture(scope="module")
def client(fuzz_db: Path) -> Iterator[Any]:
    """The app in its open demonstration mode (no accounts: requests from this machine)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLIGHTDECK_CHROMIUM", str(fuzz_db.parent / "no-chromium-here"))
        patch.delenv("BROWSER_PATH", raising=False)
        app = app_over(fuzz_db)
        yield app.server.test_client()


@pytest.fixture(scope="module")
def scoped_client(demo_db_readonly: Path, accounts_file: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app with accounts configured (its own copy of the data), signed in as an
    analyst whose account covers Kent only: every refusal path of force scoping."""
    folder = tmp_path_factory.mktemp("fuzz-scoped")
    db = folder / "flightdeck.duckdb"
    shutil.copyfile(demo_db_readonly, db)
    shutil.copyfile(accounts_file, security_db_path(db))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLIGHTDECK_CHROMIUM", str(folder / "no-chromium-here"))
        patch.delenv("BROWSER_PATH", raising=False)
        client = app_over(db).server.test_client()
        login = client.get(f"{SECURE}/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf" value="([^"]+)"', login)
        assert csrf, login[:500]
        username = "kent-analyst"
        signed_in = client.post(f"{SECURE}/login", data={
            "username": username, "password": ACCOUNTS[username][2],
            "csrf": csrf.group(1), "next": "/"})
        assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
        yield client


@pytest.fixture(scope="module")
def server_callbacks(client: Any) -> list[dict[str, Any]]:
    """Every callback the server runs (clientside ones never reach it), each once."""
    response = client.get("/_dash-dependencies")
    assert response.status_code == 200
    found: dict[str, dict[str, Any]] = {}
    for dependency in response.get_json():
        if dependency.get("clientside_function") is None:
            found.setdefault(dependency["output"], dependency)
    return list(found.values())


# ------------------------------------------------------------------ building a request


def _parse_id(text: str) -> str | dict[str, Any]:
    return json.loads(text) if text.startswith("{") else text


def _output_specs(output: str) -> list[tuple[str | dict[str, Any], str]]:
    """``..a.b...c.d..`` (or ``a.b``) as (id, property) pairs."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    specs = []
    for part in parts:
        component, _, prop = part.rpartition(".")
        specs.append((_parse_id(component), prop))
    return specs


def _wildcard(component: dict[str, Any]) -> str | None:
    for value in component.values():
        if isinstance(value, list) and value and value[0] in ("MATCH", "ALL", "ALLSMALLER"):
            return str(value[0])
    return None


def _concrete(component: dict[str, Any], value: Any) -> dict[str, Any]:
    return {k: (value if isinstance(v, list) else v) for k, v in component.items()}


Choose = Callable[[str | dict[str, Any], str], Any]


def _prop_id(component: str | dict[str, Any], prop: str) -> str:
    """``id.property`` as Dash writes it (a pattern-matching id as compact JSON)."""
    name = json.dumps(component, separators=(",", ":")) if isinstance(component, dict) \
        else component
    return f"{name}.{prop}"


def build_payload(dependency: dict[str, Any], choose: Choose, match_key: Any = "",
                  all_keys: list[Any] | None = None) -> dict[str, Any]:
    """A request as the renderer builds it, with ``choose(id, property)`` as each value.

    Pattern-matching ids get concrete keys: ``match_key`` for every MATCH id (the
    renderer sends one block's components), ``all_keys`` for ALL ids (outputs and
    states listing the same components, as the renderer does).
    """

    def expand(component: str | dict[str, Any], prop: str, with_value: bool) -> Any:
        def item(concrete: str | dict[str, Any]) -> dict[str, Any]:
            entry: dict[str, Any] = {"id": concrete, "property": prop}
            if with_value:
                entry["value"] = choose(concrete, prop)
            return entry

        if isinstance(component, dict):
            kind = _wildcard(component)
            if kind == "MATCH":
                return item(_concrete(component, match_key))
            if kind is not None:
                return [item(_concrete(component, key)) for key in all_keys or []]
        return item(component)

    inputs = [expand(_parse_id(i["id"]), i["property"], True) for i in dependency["inputs"]]
    state = [expand(_parse_id(s["id"]), s["property"], True) for s in dependency["state"]]
    outputs = [expand(c, p, False) for c, p in _output_specs(dependency["output"])]
    changed = [_prop_id(i["id"], i["property"]) for i in inputs if isinstance(i, dict)]
    multi = dependency["output"].startswith("..")
    return {"output": dependency["output"], "outputs": outputs if multi else outputs[0],
            "inputs": inputs, "state": state, "changedPropIds": changed}


def fuzzed_payload(dependency: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A request with drawn values for every input and state, and drawn wildcard keys."""
    key_values = st.one_of(st.sampled_from(["ho_rape_charge_rate|kent|2025-08",
                                            "ho_rape_charge_rate|kent|2025-09", "a|b",
                                            "a|b|c|d", "", "|||"]),
                           st.text(max_size=30), st.integers())

    def choose(component: str | dict[str, Any], prop: str) -> Any:
        if prop == "id" and isinstance(component, dict) and data.draw(st.booleans()):
            return component  # what the renderer sends for a component's own id
        name = component if isinstance(component, str) else str(component.get("type"))
        return data.draw(values_for(name, prop), label=f"{name}.{prop}")

    return build_payload(
        dependency, choose, match_key=data.draw(key_values, label="MATCH key"),
        all_keys=data.draw(st.lists(st.one_of(st.sampled_from([*KPIS, 1, 2]), key_values),
                                    max_size=4), label="ALL keys"),
    )


def assert_clear_answer(response: Any, dependency: dict[str, Any]) -> None:
    body = response.get_data(as_text=True)
    where = f"callback {dependency['output']}: HTTP {response.status_code}\n{body[:2000]}"
    assert "Traceback" not in body, where
    # A page whose layout failed says "Something went wrong" in the page (a 200).
    assert PAGE_ERROR not in body, where
    assert response.status_code in (200, 204) or (
        400 <= response.status_code < 500 and len(body) <= MAX_ERROR_BODY
    ), where


# ------------------------------------------------------------------ the tests


def test_every_server_callback_is_found(server_callbacks: list[dict[str, Any]]) -> None:
    """The enumeration the fuzzing relies on sees the app's callbacks."""
    outputs = " ".join(d["output"] for d in server_callbacks)
    for expected in ("_pages_content.children", "upload-report.children",
                     "upload-result.children", "pack-job.data", "scrutiny-job.data",
                     "recommendations-table-holder.children", "commentary-current",
                     "definition-entry", "nav-home.href", "url.search"):
        assert expected in outputs, expected
    assert len(server_callbacks) >= 12


def fuzz_callback(client: Any, dependency: dict[str, Any], examples: int,
                  base: str = "") -> set[int]:
    """Send ``examples`` fuzzed requests to one callback; fail on an unclear answer.

    Returns the status codes seen.
    """
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=examples)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        response = client.post(base + ENDPOINT, json=fuzzed_payload(dependency, data))
        assert_clear_answer(response, dependency)
        statuses.add(response.status_code)

    fuzz()
    return statuses


def test_every_callback_answers_fuzzed_inputs_clearly(
    client: Any, server_callbacks: list[dict[str, Any]]
) -> None:
    for dependency in server_callbacks:
        statuses = fuzz_callback(client, dependency, EXAMPLES_PER_CALLBACK)
        # Some requests got past the checks of their inputs to the callback's work.
        assert 200 in statuses, (dependency["output"], statuses)


def test_every_callback_answers_a_force_scoped_analyst_clearly(
    scoped_client: Any, server_callbacks: list[dict[str, Any]]
) -> None:
    """Signed in for Kent only: other forces' data, writes and packs are refused in words."""
    for dependency in server_callbacks:
        statuses = fuzz_callback(scoped_client, dependency, SCOPED_EXAMPLES, base=SECURE)
        # The session held throughout, and some requests reached the callback's work.
        assert 401 not in statuses and 200 in statuses, (dependency["output"], statuses)


# ------------------------------------------------------------------ upload, then load


def callback(callbacks: list[dict[str, Any]], output: str) -> dict[str, Any]:
    return next(d for d in callbacks if output in d["output"])


def triggered_by(callbacks: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return next(d for d in callbacks if any(i["id"] == component for i in d["inputs"]))


def call(client: Any, dependency: dict[str, Any], values: dict[str, Any],
         match_key: Any = "") -> Any:
    """Post one request with ``values`` by ``id.property`` (None for any not given)."""
    payload = build_payload(dependency, lambda c, p: values.get(_prop_id(c, p)), match_key)
    return client.post(ENDPOINT, json=payload)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def follow(client: Any, callbacks: list[dict[str, Any]], token: str) -> Any:
    """What the page shows for the batch now (its poll callback)."""
    return call(client, callback(callbacks, "upload-poll.disabled"),
                {"upload-token.data": token, "upload-poll.n_intervals": 1})


UPLOADED = st.one_of(
    st.binary(max_size=200),
    st.tuples(st.sampled_from(["kent", "Kent", "nowhere", "=1+1"]),
              st.sampled_from(["2025-08", "2025-07", "2031-01", "1500-01"]),
              st.sampled_from(["rape_reports", "cps_referrals", "nope"]),
              st.sampled_from(["3", "0", "-1", "1e309", "x", "", "9007199254740993"])).map(
        lambda row: ("force,month,measure,value\n" + ",".join(row) + "\n").encode()),
)


def test_an_upload_then_load_of_fuzzed_files_loads_or_leaves_the_database_unchanged(
    client: Any, fuzz_db: Path, server_callbacks: list[dict[str, Any]]
) -> None:
    """Through the routes and the page, as an analyst does it: the report's verdict is
    the load's."""
    confirm = triggered_by(server_callbacks, "upload-confirm")
    outcomes: set[str] = set()

    @settings(FUZZ, max_examples=12)
    @given(data=UPLOADED, name=st.sampled_from(["return.csv", "r.xlsx", "a b.CSV"]))
    @example(data=b"force,month,measure,value\nkent,2025-08,rape_reports,3\n", name="r.csv")
    def fuzz(data: bytes, name: str) -> None:
        token = upload(client, [(name, data)])
        wait_for_job(fuzz_db, token, "check")
        checked = follow(client, server_callbacks, token)
        assert_clear_answer(checked, callback(server_callbacks, "upload-poll.disabled"))
        refused = checked.get_json()["response"]["upload-confirm"]["disabled"]
        before = sha256(fuzz_db)
        started = call(client, confirm, {"upload-confirm.n_clicks": 1,
                                         "upload-token.data": token})
        assert_clear_answer(started, confirm)
        if refused:
            assert "nothing is waiting to be loaded" in started.get_data(as_text=True)
            assert sha256(fuzz_db) == before
            outcomes.add("refused")
            return
        wait_for_job(fuzz_db, token, "load")
        message = json.dumps(follow(client, server_callbacks, token).get_json())
        assert "Loaded 1 file(s)" in message, message
        assert not batch_folder(fuzz_db, token).exists()  # the staged file is gone
        outcomes.add("loaded")

    fuzz()
    assert outcomes == {"loaded", "refused"}, outcomes


# ------------------------------------------------------------------ what the fuzzing found


def page(client: Any, callbacks: list[dict[str, Any]], pathname: Any, search: Any) -> Any:
    return call(client, callback(callbacks, "_pages_store"),
                {"_pages_location.pathname": pathname, "_pages_location.search": search})


def test_a_page_address_that_is_not_a_path_is_a_bad_request(
    client: Any, server_callbacks: list[dict[str, Any]]
) -> None:
    for pathname, search in ((None, ""), ("kpi", ""), ("/", 7), (["/"], None)):
        response = page(client, server_callbacks, pathname, search)
        assert response.status_code == 400, (pathname, search)
        assert "Refused: the page" in response.get_data(as_text=True)


def test_a_key_repeated_in_the_address_counts_once(
    client: Any, server_callbacks: list[dict[str, Any]]
) -> None:
    response = page(client, server_callbacks, "/", "?force=kent&force=essex")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert PAGE_ERROR not in body and "Kent" in body


def test_an_unknown_callback_is_a_bad_request(client: Any) -> None:
    for body in ({"output": "nothing.children", "inputs": []}, {"output": ["x"]}, [], "x"):
        response = client.post(ENDPOINT, json=body)
        assert response.status_code == 400, body


def test_an_empty_file_and_files_sharing_a_name_are_all_reported(
    client: Any, fuzz_db: Path, server_callbacks: list[dict[str, Any]]
) -> None:
    """Two files may share a name (from different folders); a name never carries its
    folders; an empty file is reported as one."""
    token = upload(client, [("empty.csv", b""), ("r.csv", b"force,month\n"),
                            ("r.csv", b"force,month\nkent,2025-08\n"),
                            ("../../r.csv", b"x")])
    wait_for_job(fuzz_db, token, "check")
    response = follow(client, server_callbacks, token)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "the file is empty" in body
    assert "r.csv" in body and "r (2).csv" in body and "r (3).csv" in body
    assert "../" not in body


def test_uploads_no_browser_sends_are_refused_in_words(client: Any, fuzz_db: Path) -> None:
    """Whatever is posted to the upload routes: a short refusal, never a 500."""
    @settings(FUZZ, max_examples=60)
    @given(body=st.one_of(json_values(), st.fixed_dictionaries({"files": json_values()}),
                          st.fixed_dictionaries({"files": st.lists(st.fixed_dictionaries({
                              "name": st.one_of(st.text(max_size=30), json_values()),
                              "size": json_values()}), max_size=3)})),
           token=st.one_of(st.text(max_size=70), st.sampled_from(["a" * 24, "..", "%2e%2e"])),
           index=st.integers(min_value=-3, max_value=30))
    def fuzz(body: Any, token: str, index: int) -> None:
        started = client.post(UPLOAD_PATH, json=body)
        assert started.status_code in (200, 400, 413), started.status_code
        if started.status_code != 200:
            assert len(started.data) < MAX_ERROR_BODY
        for response in (client.post(f"{UPLOAD_PATH}/{token}/{index}", data=b"x"),
                         client.post(f"{UPLOAD_PATH}/{token}/check")):
            assert response.status_code in (400, 404, 405), response.status_code
            assert b"Traceback" not in response.data and len(response.data) < MAX_ERROR_BODY

    fuzz()


# ------------------------------------------------------------------ malformed requests
# The red team's audit: requests of shapes no renderer sends (not JSON, not an object,
# parts missing or of the wrong type, ids that match no callback, nesting deep enough
# to break the parser) are each answered 400 with one short sentence, never a 500.


@pytest.fixture(scope="module")
def all_callbacks(client: Any) -> list[dict[str, Any]]:
    """Every callback the app declares, clientside ones too (a server never runs those)."""
    response = client.get("/_dash-dependencies")
    assert response.status_code == 200
    return list(response.get_json())


def exactly(callbacks: list[dict[str, Any]], output: str) -> dict[str, Any]:
    return next(d for d in callbacks if d["output"] == output)


def valid(callbacks: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """A well-formed request for the callback whose output string starts with ``output``
    (the first found): every value None but components' own ids, as the renderer sends."""
    dependency = next(d for d in callbacks if d["output"].lstrip(".").startswith(output))
    return build_payload(dependency, lambda c, p: c if p == "id" else None, match_key="k",
                         all_keys=["a", "b"])


def view(callbacks: list[dict[str, Any]]) -> dict[str, Any]:
    """The view controls' callback (the URL, and the parts of a view switched in place:
    layouts/_live.py): three inputs, two states."""
    dependency = next(d for d in callbacks if d["output"].startswith("..view-search.data..."))
    return build_payload(dependency, lambda c, p: "/" if p == "pathname" else "kent",
                         all_keys=["a"])


def changed(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``payload`` with keys replaced (a value of ``DROP``: the key removed)."""
    result = {**payload, **changes}
    return {k: v for k, v in result.items() if v is not DROP}


def with_item(payload: dict[str, Any], key: str, index: int, item: Any) -> dict[str, Any]:
    items = list(payload[key])
    items[index] = item
    return changed(payload, **{key: items})


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def with_deep_value(payload: dict[str, Any], depth: int) -> bytes:
    """``payload`` with its first input's value nested ``depth`` lists deep (deeper than
    the json module writes), as raw JSON."""
    marker = "deep-value-here"
    first = {**payload["inputs"][0], "value": marker}
    text = json.dumps(with_item(payload, "inputs", 0, first))
    return text.replace(json.dumps(marker), "[" * depth + '"x"' + "]" * depth).encode()


DROP = object()
TREND = "{\"key\""  # the trend table's MATCH callback (its output string's start)
NAV = "nav-home.href"  # a multi-output callback
DEFINITIONS = "{\"kpi\""  # the definitions' callback with ALL states
# (name, the body: raw bytes, or anything JSON, built from the app's own callbacks)
MALFORMED: list[tuple[str, Callable[[list[dict[str, Any]]], Any]]] = [
    ("not-json", lambda cbs: b'{"output": "url.search", inputs: ['),
    ("empty-body", lambda cbs: b""),
    ("not-utf8", lambda cbs: b'{"output": "\xff\xfe"}'),
    ("a-list", lambda cbs: [view(cbs)]),
    ("a-string", lambda cbs: "url.search"),
    ("a-number", lambda cbs: 3),
    ("null", lambda cbs: None),
    ("true", lambda cbs: True),
    ("missing-output", lambda cbs: changed(view(cbs), output=DROP)),
    ("missing-outputs", lambda cbs: changed(view(cbs), outputs=DROP)),
    ("missing-outputs-multi", lambda cbs: changed(valid(cbs, NAV), outputs=DROP)),
    ("missing-inputs", lambda cbs: changed(view(cbs), inputs=DROP)),
    ("missing-state", lambda cbs: changed(view(cbs), state=DROP)),
    ("output-not-text", lambda cbs: changed(view(cbs), output=["url.search"])),
    ("output-unknown-component", lambda cbs: changed(
        view(cbs), output="nothing.children",
        outputs={"id": "nothing", "property": "children"})),
    ("output-unknown-property", lambda cbs: changed(
        view(cbs), output="url.nope", outputs={"id": "url", "property": "nope"})),
    ("output-of-a-clientside-callback", lambda cbs: build_payload(
        exactly(cbs, "theme-store.data"), lambda c, p: None)),
    ("outputs-another-component", lambda cbs: changed(
        view(cbs), outputs={"id": "control-force", "property": "value"})),
    ("outputs-another-property", lambda cbs: changed(
        view(cbs), outputs={"id": "url", "property": "pathname"})),
    ("outputs-list-for-one", lambda cbs: changed(view(cbs), outputs=[view(cbs)["outputs"]])),
    ("outputs-one-for-a-list", lambda cbs: changed(
        valid(cbs, NAV), outputs=valid(cbs, NAV)["outputs"][0])),
    ("outputs-too-few", lambda cbs: changed(valid(cbs, NAV),
                                            outputs=valid(cbs, NAV)["outputs"][:-1])),
    ("outputs-items-not-objects", lambda cbs: changed(
        valid(cbs, NAV), outputs=["nav-home.href"] * len(valid(cbs, NAV)["outputs"]))),
    ("outputs-a-string", lambda cbs: changed(view(cbs), outputs="url.search")),
    ("outputs-missing-id", lambda cbs: changed(view(cbs), outputs={"property": "search"})),
    ("inputs-an-object", lambda cbs: changed(view(cbs), inputs=view(cbs)["inputs"][0])),
    ("inputs-a-string", lambda cbs: changed(view(cbs), inputs="control-force.value")),
    ("inputs-null", lambda cbs: changed(view(cbs), inputs=None)),
    ("state-an-object", lambda cbs: changed(view(cbs), state=view(cbs)["state"][0])),
    ("state-a-string", lambda cbs: changed(view(cbs), state="url.search")),
    ("inputs-too-few", lambda cbs: changed(view(cbs), inputs=view(cbs)["inputs"][:-1])),
    ("inputs-too-many", lambda cbs: changed(view(cbs), inputs=view(cbs)["inputs"] * 2)),
    ("state-too-many", lambda cbs: changed(view(cbs), state=view(cbs)["state"] * 2)),
    ("input-a-string", lambda cbs: with_item(view(cbs), "inputs", 0, "control-force")),
    ("input-a-number", lambda cbs: with_item(view(cbs), "inputs", 0, 1)),
    ("input-null", lambda cbs: with_item(view(cbs), "inputs", 0, None)),
    ("input-a-list", lambda cbs: with_item(view(cbs), "inputs", 0, [view(cbs)["inputs"][0]])),
    ("state-a-number", lambda cbs: with_item(view(cbs), "state", 0, 7)),
    ("input-missing-id", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"property": "value", "value": "kent"})),
    ("input-missing-property", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": "control-force", "value": "kent"})),
    ("input-id-a-number", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": 5, "property": "value", "value": "kent"})),
    ("input-id-a-list", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": ["control-force"], "property": "value"})),
    ("input-id-null", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": None, "property": "value"})),
    ("input-property-a-number", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": "control-force", "property": 1})),
    ("input-another-component", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": "nothing", "property": "value", "value": "kent"})),
    ("input-another-property", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": "control-force", "property": "nope"})),
    ("input-id-a-dict-for-text", lambda cbs: with_item(
        view(cbs), "inputs", 0, {"id": {"id": "control-force"}, "property": "value"})),
    ("pattern-id-text-for-a-dict", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": "trend-table-summary",
                                         "property": "n_clicks"})),
    ("pattern-id-key-a-dict", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary",
                                                "key": {"a": 1}}, "property": "n_clicks"})),
    ("pattern-id-key-a-list", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary",
                                                "key": ["MATCH"]}, "property": "n_clicks"})),
    ("pattern-id-key-null", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary", "key": None},
                                         "property": "n_clicks"})),
    ("pattern-id-type-a-number", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": 1, "key": "k"},
                                         "property": "n_clicks"})),
    ("pattern-id-another-type", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "nothing", "key": "k"},
                                         "property": "n_clicks"})),
    ("pattern-id-missing-key", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary"},
                                         "property": "n_clicks"})),
    ("pattern-id-extra-key", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary", "key": "k",
                                                "more": 1}, "property": "n_clicks"})),
    ("pattern-output-another-key-set", lambda cbs: changed(
        valid(cbs, TREND), outputs={"id": {"type": "trend-table-body"},
                                    "property": "children"})),
    ("pattern-match-input-a-list", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, [valid(cbs, TREND)["inputs"][0]])),
    ("pattern-all-state-an-object", lambda cbs: with_item(
        valid(cbs, DEFINITIONS), "state", 0, valid(cbs, DEFINITIONS)["state"][0][0])),
    ("pattern-all-state-items-not-objects", lambda cbs: with_item(
        valid(cbs, DEFINITIONS), "state", 0, ["a", 1, None])),
    ("pattern-all-output-an-object", lambda cbs: changed(valid(cbs, DEFINITIONS), outputs=[
        valid(cbs, DEFINITIONS)["outputs"][0][0], *valid(cbs, DEFINITIONS)["outputs"][1:]])),
    ("changed-a-number", lambda cbs: changed(view(cbs), changedPropIds=5)),
    ("changed-a-string", lambda cbs: changed(view(cbs), changedPropIds="control-force.value")),
    ("changed-null", lambda cbs: changed(view(cbs), changedPropIds=None)),
    ("changed-an-object", lambda cbs: changed(view(cbs), changedPropIds={"a": 1})),
    ("changed-items-objects", lambda cbs: changed(view(cbs), changedPropIds=[{"a": 1}])),
    ("changed-items-lists", lambda cbs: changed(view(cbs), changedPropIds=[["x"]])),
    ("changed-items-numbers", lambda cbs: changed(view(cbs), changedPropIds=[1, 2])),
    ("deep-body", lambda cbs: b"[" * 100_000 + b"]" * 100_000),
    ("deep-value", lambda cbs: with_deep_value(view(cbs), 5_000)),
    ("deeper-than-a-page-sends", lambda cbs: with_deep_value(view(cbs), 300)),
    ("deep-store-data", lambda cbs: build_payload(
        callback(cbs, "upload-poll.disabled"),
        lambda c, p: nested(300) if p == "data" else 1)),
    ("deep-component-id", lambda cbs: with_item(
        valid(cbs, TREND), "inputs", 0, {"id": {"type": "trend-table-summary",
                                                "key": nested(300)},
                                         "property": "n_clicks"})),
]


def assert_refused(response: Any) -> None:
    body = response.get_data(as_text=True)
    where = f"HTTP {response.status_code}\n{body[:2000]}"
    assert response.status_code == 400, where
    assert "Traceback" not in body and 'File "' not in body, where
    assert len(body) <= MAX_ERROR_BODY and "Refused" in body, where


@pytest.mark.parametrize("build", [case for _, case in MALFORMED],
                         ids=[name for name, _ in MALFORMED])
def test_a_malformed_callback_request_is_a_bad_request(
    client: Any, all_callbacks: list[dict[str, Any]],
    build: Callable[[list[dict[str, Any]]], Any]
) -> None:
    body = build(all_callbacks)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert_refused(client.post(ENDPOINT, data=data, content_type="application/json"))


def test_a_callback_request_that_is_not_sent_as_json_is_a_bad_request(
    client: Any, all_callbacks: list[dict[str, Any]]
) -> None:
    payload = json.dumps(view(all_callbacks))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        assert_refused(client.post(ENDPOINT, data=payload, content_type=content_type))


def test_the_well_formed_requests_the_malformed_ones_were_made_from_work(
    client: Any, all_callbacks: list[dict[str, Any]]
) -> None:
    """The refusals above are of the malformation, not of the request underneath."""
    for payload in (view(all_callbacks), valid(all_callbacks, TREND),
                    valid(all_callbacks, NAV), valid(all_callbacks, DEFINITIONS)):
        response = client.post(ENDPOINT, json=payload)
        assert response.status_code in (200, 204), (payload["output"],
                                                    response.get_data(as_text=True)[:500])


def test_a_get_of_the_callback_route_is_refused_in_words(client: Any) -> None:
    for method in (client.get, client.head):
        response = method(ENDPOINT)
        body = response.get_data(as_text=True)
        assert response.status_code == 405, (response.status_code, body[:500])
        assert "Traceback" not in body and len(body) <= MAX_ERROR_BODY


def test_a_callback_request_over_the_size_limit_is_too_large(
    client: Any, all_callbacks: list[dict[str, Any]]
) -> None:
    from web.security import REQUEST_LIMIT

    payload = with_item(view(all_callbacks), "inputs", 0, {
        "id": "control-force", "property": "value", "value": "x" * (REQUEST_LIMIT + 1)})
    response = client.post(ENDPOINT, json=payload)
    body = response.get_data(as_text=True)
    assert response.status_code == 413, (response.status_code, body[:500])
    assert "Traceback" not in body and len(body) <= MAX_ERROR_BODY


# A callback's own fault on a value no page sends (a dict where text belongs) is the
# request's fault: 400. The same fault on a value a page does send is a bug: 500.
FAULTS = {"type": TypeError, "value": ValueError, "key": KeyError}


@pytest.fixture(scope="module")
def fragile_client(fuzz_db: Path) -> Any:
    """The app with extra callbacks that fail (or cope) whatever they are sent."""
    from dash import Input, Output

    app = app_over(fuzz_db)
    for name, fault in FAULTS.items():
        def fail(value: Any, fault: type[Exception] = fault) -> str:
            raise fault(f"cannot use {value!r}")

        app.callback(Output(f"fragile-{name}-out", "children"),
                     Input(f"fragile-{name}", "value"))(fail)

    @app.callback(Output("coping-out", "children"), Input("coping", "value"),
                  Input("coping", "n_clicks"))
    def cope(value: Any, clicks: Any) -> str:
        return f"{value!r} {clicks!r}"

    return app.server.test_client()


def fragile_request(component: str, value: Any, clicks: Any = None) -> dict[str, Any]:
    """A request for the callback of ``component``'s value (and its clicks, for the
    callback that copes)."""
    inputs = [{"id": component, "property": "value", "value": value}]
    if component == "coping":
        inputs.append({"id": component, "property": "n_clicks", "value": clicks})
    return {"output": f"{component}-out.children",
            "outputs": {"id": f"{component}-out", "property": "children"},
            "inputs": inputs, "changedPropIds": [f"{component}.value"]}


@pytest.mark.parametrize("value", [{"a": 1}, [["nested"]], [{"a": 1}]],
                         ids=["a-dict", "a-nested-list", "a-list-of-dicts"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_callback_failing_on_a_value_no_page_sends_is_a_bad_request(
    fragile_client: Any, fault: str, value: Any
) -> None:
    response = fragile_client.post(ENDPOINT, json=fragile_request(f"fragile-{fault}", value))
    assert_refused(response)
    assert f"fragile-{fault}.value" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["kent", 3, ["kent", "essex"], None],
                         ids=["text", "a-number", "a-list-of-text", "none"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_callback_failing_on_a_value_a_page_sends_is_still_a_server_error(
    fragile_client: Any, fault: str, value: Any
) -> None:
    """A genuine bug is not hidden as the request's fault (and still shows no trace)."""
    response = fragile_client.post(ENDPOINT, json=fragile_request(f"fragile-{fault}", value))
    body = response.get_data(as_text=True)
    assert response.status_code == 500, (response.status_code, body[:500])
    assert "Traceback" not in body and "Refused" not in body


def test_a_callback_that_copes_with_a_value_no_page_sends_answers_normally(
    fragile_client: Any
) -> None:
    for value, clicks in (({"a": [1, {"b": None}]}, 1), ("kent", "many")):
        response = fragile_client.post(ENDPOINT, json=fragile_request("coping", value, clicks))
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert repr(clicks) in response.get_data(as_text=True)
