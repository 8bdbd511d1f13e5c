"""The red team's attacks on sign-in, hosts, the security mode and the audit log (#16),
each as a user would make it, through the real app."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import argon2
import dash
import pytest

from kpis.cli import main
from kpis.storage import security
from kpis.storage.security import MAX_FAILURES_PER_USER, SecurityStore, security_db_path
from tests.conftest import ACCOUNTS, app_over
from tests.test_security import BASE, audit_events, client_of, render_page, sign_in
from web.security import MAX_PASSWORD_CHECKS

LOCAL = "http://localhost:8050"


# --------------------------------------------------------------------------- hosts


def test_the_demonstration_refuses_a_page_that_rebinds_its_own_name_to_this_computer(
        demo_db: Path) -> None:
    """A page on attacker.example whose name now resolves to 127.0.0.1 sends its own
    Host: the unsecured demonstration answers only to this machine's names."""
    client = client_of(app_over(demo_db))
    for host in ("attacker.example", "attacker.example:8050", "127.0.0.1.attacker.example"):
        read = client.get("/_dash-layout", headers={"Host": host})
        assert read.status_code == 400, host
        assert b"does not answer to that address" in read.data
        write = client.post("/_dash-update-component", headers={"Host": host}, json={})
        assert write.status_code == 400, host
    for host in ("localhost:8050", "127.0.0.1:8050", "[::1]:8050", "localhost"):
        assert client.get("/_dash-layout", headers={"Host": host}).status_code == 200, host


def test_a_secured_server_answers_only_to_its_configured_names(secured_db: Path) -> None:
    client = client_of(app_over(secured_db, {"FLIGHTDECK_HOSTS": "flightdeck.test"}))
    assert client.get("https://elsewhere.example/login").status_code == 400
    assert client.get(f"{BASE}/login").status_code == 200


# --------------------------------------------------------------------------- mode


def test_removing_the_last_account_never_opens_the_running_server(secured_db: Path) -> None:
    app = app_over(secured_db)
    client = client_of(app)
    assert client.get(f"{BASE}/_dash-layout").status_code == 401
    store = SecurityStore(security_db_path(secured_db))
    try:
        for name in ACCOUNTS:
            store.remove_user(name, actor="tests")
    finally:
        store.close()
    for path in ("/_dash-layout", "/audit", "/"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code == 503, path
        assert b"no accounts any more" in response.data
        assert b"UNSECURED" not in response.data


def test_accounts_added_to_a_running_demonstration_stop_it_until_restarted(
        demo_db: Path) -> None:
    app = app_over(demo_db)
    client = client_of(app)
    assert client.get(f"{LOCAL}/_dash-layout").status_code == 200
    store = SecurityStore(security_db_path(demo_db))
    try:
        store.add_user("newadmin", "admin", "a long enough password 1", actor="tests")
    finally:
        store.close()
    refused = client.get(f"{LOCAL}/_dash-layout")
    assert refused.status_code == 503 and b"restart the server" in refused.data
    # Restarted, it requires sign-in.
    assert client_of(app_over(demo_db)).get(f"{LOCAL}/_dash-layout").status_code == 401


# --------------------------------------------------------------------------- paths


def test_only_the_exact_public_paths_skip_sign_in(secured_db: Path) -> None:
    client = client_of(app_over(secured_db))
    for path in ("/favicon.icox", "/favicon.ico/../_dash-layout", "/_favicon.ico.json",
                 "/assets/../_dash-layout", "/login/../_dash-layout", "/loginx"):
        response = client.get(f"{BASE}{path}")
        assert response.status_code in (302, 401), (path, response.status_code)
    assert client.get(f"{BASE}/assets/10-flightdeck.css").status_code == 200


def test_the_login_route_takes_only_get_and_post(secured_db: Path) -> None:
    client = client_of(app_over(secured_db))
    for method in ("OPTIONS", "PUT", "DELETE", "PATCH"):
        assert client.open(f"{BASE}/login", method=method).status_code == 405, method


# --------------------------------------------------------------------------- audit


def test_a_user_name_with_a_line_break_cannot_forge_an_audit_line(
        secured_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = client_of(app_over(secured_db))
    forged = "eve\n2026-01-01 00:00:00\tsign-in\tadmin\t10.0.0.1\t"
    assert sign_in(client, forged, "whatever").status_code == 401
    assert main(["audit", "--db", str(secured_db)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "eve" in line]
    assert len(lines) == 1 and "sign-in failed" in lines[0]
    assert "eve\\n2026-01-01" in lines[0]
    assert not any(line.startswith("2026-01-01 00:00:00\tsign-in\tadmin") for line in
                   out.splitlines())
    with pytest.raises(security.UserError):
        SecurityStore(security_db_path(secured_db)).add_user("eve\nadmin", "viewer",
                                                             "a long enough password 1")


# --------------------------------------------------------------------------- the raced sign-in


@pytest.mark.slow  # concurrency: forty threads signing in at once
def test_forty_simultaneous_wrong_passwords_are_checked_five_times_two_at_a_time(
        secured_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app: dash.Dash = app_over(secured_db)
    hasher = security._HASHER
    running, most = 0, 0
    lock = threading.Lock()

    class Watched(argon2.PasswordHasher):
        """The real check, slowed as a 64 MiB Argon2 check is, counting how many run."""

        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                time.sleep(0.05)  # the cost of a production check, widening the race
                return hasher.verify(hash, password)
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(security, "_HASHER", Watched())
    clients = [client_of(app) for _ in range(40)]
    tokens = [sign_in_token(c) for c in clients]
    start = threading.Barrier(40)
    statuses: list[int] = []

    def attempt(index: int) -> None:
        start.wait()
        response = clients[index].post(f"{BASE}/login", data={
            "username": "analyst", "password": f"wrong guess {index}",
            "csrf": tokens[index], "next": "/"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 40
    assert statuses.count(401) == MAX_FAILURES_PER_USER
    assert statuses.count(429) == 40 - MAX_FAILURES_PER_USER
    assert most <= MAX_PASSWORD_CHECKS
    assert len(audit_events(secured_db, "sign-in failed")) == MAX_FAILURES_PER_USER
    # The 35 refused attempts are one audit line, not 35 writes of the users file.
    assert audit_events(secured_db, "sign-in throttled") == ["analyst"]


def sign_in_token(client: object) -> str:
    from tests.test_security import csrf_token

    return csrf_token(client)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- proxies


def test_behind_a_proxy_the_throttle_and_the_audit_see_the_client(secured_db: Path) -> None:
    """FLIGHTDECK_PROXY_HOPS=1: the proxy's X-Forwarded-For names the client, so one
    client's guesses do not lock out everyone behind the proxy; without the setting,
    and from an address that is not the trusted proxy, the header is ignored."""
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    behind = client_of(app_over(secured_db, {"FLIGHTDECK_PROXY_HOPS": "1"}))
    plain = client_of(app_over(secured_db))
    trusted_only = client_of(app_over(secured_db, {"FLIGHTDECK_PROXY_HOPS": "1",
                                                   "FLIGHTDECK_TRUSTED_PROXIES": "10.0.0.1"}))
    for client in (behind, plain, trusted_only):
        token = sign_in_token(client)
        client.post(f"{BASE}/login", headers=forwarded, data={
            "username": "viewer", "password": "wrong", "csrf": token, "next": "/"})
    store = SecurityStore(security_db_path(secured_db))
    try:
        addresses = [e.address for e in store.events(event="sign-in failed")]
    finally:
        store.close()
    assert sorted(addresses) == ["127.0.0.1", "127.0.0.1", "203.0.113.9"]


# --------------------------------------------------------------------------- bounded checks


def test_a_csv_of_16384_columns_is_refused_at_its_header(tmp_path: Path) -> None:
    from kpis.ingest.loader import check_files
    from kpis.ingest.tables import MAX_TABLE_COLUMNS

    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(16_384)) + "\n"
                    + ",".join("1" for _ in range(16_384)) + "\n", encoding="utf-8")
    _, report = check_files(tmp_path / "none.duckdb", [wide])
    (error,) = report.errors
    assert (error.file, error.row, error.value) == ("wide.csv", 1, "16,384 columns")
    assert f"at most {MAX_TABLE_COLUMNS}" in error.rule
    # A header longer than the block the check reads is refused too, not parsed.
    longer = tmp_path / "longer.csv"
    longer.write_text(",".join(f"column{i:07d}" for i in range(200_000)) + "\n",
                      encoding="utf-8")
    _, report = check_files(tmp_path / "none.duckdb", [longer])
    (error,) = report.errors
    assert error.row == 1 and f"at most {MAX_TABLE_COLUMNS}" in error.rule


@pytest.mark.slow  # writes and checks 400,000 rows
def test_a_bad_return_of_400000_rows_gives_a_bounded_report(secured_db: Path,
                                                             tmp_path: Path) -> None:
    """Every row is wrong: the first 1,000 findings are listed, the rest counted, and
    the page's report stays small."""
    from kpis.ingest.loader import check_files, load_files
    from kpis.ingest.problems import MAX_FINDINGS, LoadRefused

    app_over(secured_db)  # the page module registers itself with an app
    from layouts.upload import report_view

    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8") as handle:
        handle.write("force,month,measure,value\n")
        handle.writelines("kent,2025-08,rape_reports,lots\n" for _ in range(400_000))
    _, report = check_files(secured_db, [bad])
    assert len(report.findings) == MAX_FINDINGS and report.error_count == 400_000
    assert "... and 399,000 more error(s), not listed (the first 1,000" in report.summary()
    assert len(report.summary()) < 200_000
    assert len(str(report_view(report, []).to_plotly_json())) < 1_000_000
    before = secured_db.read_bytes()
    with pytest.raises(LoadRefused) as refused:
        load_files(secured_db, [bad])
    assert "400,000 error(s)" in str(refused.value)
    assert secured_db.read_bytes() == before


@pytest.mark.slow  # packs 42 MB twice
def test_a_zip_bomb_workbook_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    import zipfile

    from kpis.ingest.loader import check_files
    from tests.published import write_xlsx

    for suffix in ("xlsx", "ods"):
        bomb = tmp_path / f"bomb.{suffix}"
        write_xlsx(bomb, {"Sheet1": [["force", "month", "measure", "value"]]})
        with zipfile.ZipFile(bomb) as archive:
            parts = {n: archive.read(n) for n in archive.namelist()}
        sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
        # 42 MB of one repeated row packs to some 40 KB: a thousand times smaller.
        parts[sheet] = parts[sheet].replace(b"</sheetData>",
                                            b"<row/>" * 7_000_000 + b"</sheetData>")
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name, data in parts.items():
                archive.writestr(name, data)
        assert bomb.stat().st_size < 200_000
        _, report = check_files(tmp_path / "none.duckdb", [bomb])
        assert any("unpacks to more than this program reads" in e.rule
                   for e in report.errors), (suffix, report.summary())


@pytest.mark.slow  # writes a 300,000-row workbook
def test_a_return_workbook_too_large_to_read_cell_by_cell_is_refused(tmp_path: Path) -> None:
    from kpis.ingest.loader import check_files
    from kpis.ingest.tables import MAX_RETURN_UNPACKED_BYTES
    from tests.published import write_xlsx

    rows: list[list[object]] = [["force", "month", "measure", "value"]]
    rows += [["kent", "2025-08", "rape_reports", n] for n in range(300_000)]
    big = write_xlsx(tmp_path / "return.xlsx", {"Sheet1": rows})
    _, report = check_files(tmp_path / "none.duckdb", [big])
    (error,) = report.errors
    assert "unpacks to more" in error.rule
    assert f"{MAX_RETURN_UNPACKED_BYTES / 2**20:,.0f} MB" in error.rule


# --------------------------------------------------------------------------- scoping


def met_viewer(demo_db: Path) -> object:
    """An analyst (who may download) limited to the Metropolitan Police, signed in."""
    store = SecurityStore(security_db_path(demo_db))
    try:
        store.add_user("met-viewer", "analyst", "met viewer long password", "metropolitan",
                       actor="tests")
    finally:
        store.close()
    client = client_of(app_over(demo_db))
    assert sign_in(client, "met-viewer", "met viewer long password").status_code == 302
    return client


def test_a_metropolitan_analyst_gets_no_london_figures_from_a_crafted_download(
        demo_db: Path) -> None:
    """The red-team attack: the trend CSV with the region as comparator carried London's
    numerator beside the Met's, and London minus the Met is the City of London."""
    client = met_viewer(demo_db)
    for kpi in ("cps_referrals", "suspect_contact_30d"):
        response = client.get(f"{BASE}/download/chart/trend/{kpi}.csv?force=metropolitan"
                              "&period=2025-09&comparator=region")
        body = response.get_data(as_text=True)
        assert response.status_code == 200, body
        assert "London" not in body
    # The flight deck says why the region is not there, rather than "no figure".
    page = render_page(client, "/", "?force=metropolitan&comparator=region")
    assert "London (region): not shown to your account" in page.get_data(as_text=True)
    # The compare page does not offer the withheld regions, even when asked for one.
    compare = render_page(client, "/compare", "?force=metropolitan&group=region-london")
    text = compare.get_data(as_text=True)
    assert compare.status_code == 200
    assert "region-london" not in text and "region-north-east" not in text


# --------------------------------------------------------------------------- file modes


def test_files_and_folders_the_program_creates_are_private(tmp_path: Path) -> None:
    """Started with a permissive umask, the CLI still writes its database 0600."""
    import os
    import stat

    from kpis.cli import main

    started_with = os.umask(0o022)
    try:
        data = tmp_path / "new folder"
        returns = tmp_path / "kent.csv"
        returns.write_text("force,month,measure,value\nkent,2025-08,rape_reports,7\n",
                           encoding="utf-8")
        assert main(["load", "--db", str(data / "flightdeck.duckdb"), str(returns)]) == 0
        assert stat.S_IMODE((data / "flightdeck.duckdb").stat().st_mode) == 0o600
        made = tmp_path / "made by the program"
        made.mkdir()  # the process's umask is now the program's
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
    finally:
        os.umask(started_with)
