"""Board packs by email: subscriptions, when a month is due, and the messages a real
SMTP server (aiosmtpd, on 127.0.0.1) receives, with the packs opened and read.

The database holds Kent's own returns, taken from the demonstration data, and nothing
else to begin with, so "before the force's return is in" and "after" are both real
states. Tests that build a pack draw its charts with headless Chromium: those are slow.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from kpis.cli import main
from kpis.domain.access import AccessDenied, Principal, Role
from kpis.service import FlightDeckService
from kpis.settings import MailConfig, Settings
from kpis.storage import schema, security
from kpis.storage.duckdb_file import Reader
from kpis.storage.security import SecurityStore, UserError, security_db_path
from kpis.subscriptions import (
    SKIPPED,
    WRITTEN,
    complete_months,
    due,
    send_due,
    subject,
)
from kpis.uploads import LOADED, UploadJob, load_job
from tests.conftest import free_port, wait_until

SEPTEMBER = dt.date(2025, 9, 1)
SUBJECT = "[OFFICIAL-SENSITIVE] RASSO performance board pack: Kent, September 2025"
KENT_EMAIL = "kent.analyst@kent.police.uk"
# name -> (role, force): the accounts of the users file (no passwords: nothing signs in).
ACCOUNTS = {"kent-analyst": ("analyst", "kent"), "analyst": ("analyst", None),
            "viewer": ("viewer", None)}


# --------------------------------------------------------------------------- the SMTP server


@dataclass
class Inbox:
    """What the test SMTP server received, in order."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        message = email.message_from_bytes(envelope.content,  # type: ignore[attr-defined]
                                           policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def config(self) -> MailConfig:
        return MailConfig(smtp_host="127.0.0.1", smtp_port=self.port,
                          mail_from="NOM flight deck <flightdeck@test.police.uk>")

    def env(self) -> dict[str, str]:
        return {"FLIGHTDECK_SMTP_HOST": "127.0.0.1", "FLIGHTDECK_SMTP_PORT": str(self.port),
                "FLIGHTDECK_MAIL_FROM": "flightdeck@test.police.uk"}


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1, in a thread of this process."""
    from aiosmtpd.controller import Controller

    found = Inbox(free_port())
    controller = Controller(found, hostname="127.0.0.1", port=found.port,
                            data_size_limit=64 * 1024 * 1024)
    controller.start()
    yield found
    controller.stop()


# --------------------------------------------------------------------------- the database


def write_long_return(path: Path, rows: list[tuple[str, str, str, object]]) -> Path:
    lines = ["force,month,measure,value"] + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kent_returns(demo_db_readonly: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, Path]:
    """Kent's own returns from the demonstration data, as long CSV files: to August
    2025, and September 2025 alone."""
    reader = Reader(demo_db_readonly)
    obs, measures = schema.observations.c, schema.measures.c
    try:
        with reader.connect() as conn:
            rows = conn.execute(
                sa.select(obs.force_slug, obs.period_start, obs.measure_id, obs.value)
                .join(schema.measures, measures.measure_id == obs.measure_id)
                .where(obs.force_slug == "kent", measures.source == "force_return")
                .order_by(obs.period_start, obs.measure_id)).all()
    finally:
        reader.close()
    folder = tmp_path_factory.mktemp("kent-returns")
    as_rows = [(force, f"{day:%Y-%m}", measure, int(value))
               for force, day, measure, value in rows]
    return {
        "to-august": write_long_return(folder / "kent_to_2025-08.csv",
                                       [r for r in as_rows if r[1] < "2025-09"]),
        "september": write_long_return(folder / "kent_2025-09.csv",
                                       [r for r in as_rows if r[1] == "2025-09"]),
    }


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file holding ``ACCOUNTS`` (built once; copy it)."""
    path = tmp_path_factory.mktemp("subscribers") / "security.duckdb"
    store = SecurityStore(path)
    for name, (role, force) in ACCOUNTS.items():
        store.add_user(name, role, None, force, actor="tests")
    store.close()
    return path


@pytest.fixture
def world(empty_db: Path, accounts: Path) -> Path:
    """An empty database (no data at all) with ``ACCOUNTS`` in its users file."""
    shutil.copyfile(accounts, security_db_path(empty_db))
    return empty_db


def one_value(folder: Path, force: str, month: str) -> Path:
    """A force's return for a month holding one value: enough to complete the month."""
    return write_long_return(folder / f"{force}_{month}.csv",
                             [(force, month, "rape_reports", 40)])


def service_over(db: Path) -> FlightDeckService:
    return FlightDeckService(db)


def as_account(service: FlightDeckService, name: str) -> FlightDeckService:
    role, force = ACCOUNTS[name]
    return service.for_principal(Principal(name, Role(role), force, name.title()),
                                 "192.0.2.7")


def events(db: Path, event: str) -> list[security.AuditEvent]:
    store = SecurityStore(security_db_path(db))
    try:
        return store.events(event=event)
    finally:
        store.close()


def load(service: FlightDeckService, path: Path) -> None:
    service.load([path])


def attachment(message: EmailMessage) -> tuple[str, bytes]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1, "one attachment: the pack"
    payload = parts[0].get_content()
    assert isinstance(payload, bytes)
    return str(parts[0].get_filename()), payload


def pptx_text(data: bytes) -> str:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(data))
    return "\n".join(shape.text_frame.text for slide in deck.slides for shape in slide.shapes
                     if shape.has_text_frame)


# --------------------------------------------------------------------------- subscribing


def test_a_scoped_account_subscribes_to_its_own_force_only(world: Path) -> None:
    service = service_over(world)
    kent = as_account(service, "kent-analyst")
    sub = kent.subscribe("kent", "pptx", KENT_EMAIL)
    assert (sub.username, sub.force_slug, sub.format, sub.last_sent) == (
        "kent-analyst", "kent", "pptx", None)
    with pytest.raises(AccessDenied, match="limited to Kent"):
        kent.subscribe("surrey", "pptx", KENT_EMAIL)
    # Nor through the store (what `flightdeck subscriptions add` uses), nor the CLI.
    with pytest.raises(UserError, match="limited to kent"):
        service.security.subscribe("kent-analyst", "surrey", "pdf")
    assert main(["subscriptions", "add", "kent-analyst", "--force", "surrey", "--format",
                 "pdf", "--db", str(world)]) == 2
    assert [(s.username, s.force_slug) for s in service.security.subscriptions()] == [
        ("kent-analyst", "kent")]
    denied = events(world, security.ACCESS_DENIED)
    assert denied and denied[0].username == "kent-analyst"
    assert denied[0].address == "192.0.2.7" and "Surrey" in denied[0].detail
    service.close()


def test_packs_are_exports_so_a_viewer_cannot_subscribe(world: Path) -> None:
    service = service_over(world)
    with pytest.raises(AccessDenied, match="analyst role"):
        as_account(service, "viewer").subscribe("kent", "pdf", "viewer@kent.police.uk")
    with pytest.raises(UserError, match="board packs need the analyst"):
        service.security.subscribe("viewer", "kent", "pdf", "viewer@kent.police.uk")
    assert service.security.subscriptions() == []
    service.close()


@pytest.mark.parametrize(("force", "fmt", "address", "says"), [
    ("kent", "pptx", "not an address", "not an email address"),
    ("kent", "pptx", "a@b.uk\r\nBcc: x@y.uk", "not an email address"),
    ("kent", "pptx", None, "Give an email address"),
    ("kent", "xlsx", KENT_EMAIL, "not one of pptx, pdf, docx"),
    ("england-and-wales", "pptx", KENT_EMAIL, "no force"),
])
def test_a_bad_subscription_is_refused_saying_why(world: Path, force: str, fmt: str,
                                                  address: str | None, says: str) -> None:
    service = service_over(world)
    with pytest.raises(UserError, match=says):
        as_account(service, "analyst").subscribe(force, fmt, address)
    assert service.security.subscriptions() == []
    service.close()


def test_subscribing_and_unsubscribing_are_audited_with_who_when_and_scope(
        world: Path) -> None:
    service = service_over(world)
    kent = as_account(service, "kent-analyst")
    before = dt.datetime.now().replace(microsecond=0)
    kent.subscribe("kent", "docx", KENT_EMAIL)
    kent.subscribe("kent", "pdf")  # a new format; the account keeps its address
    assert service.security.user("kent-analyst").email == KENT_EMAIL  # type: ignore[union-attr]
    assert [s.format for s in kent.subscriptions()] == ["pdf"]
    kent.unsubscribe("kent")
    assert kent.subscriptions() == []
    with pytest.raises(UserError, match="no subscription"):
        kent.unsubscribe("kent")
    subscribed = events(world, security.SUBSCRIBED)
    assert [e.detail for e in reversed(subscribed)] == [
        f"kent-analyst: kent monthly board pack as docx to {KENT_EMAIL} "
        "(account: analyst, kent)",
        f"kent-analyst: kent monthly board pack as pdf to {KENT_EMAIL} "
        "(account: analyst, kent)",
    ]
    (gone,) = events(world, security.UNSUBSCRIBED)
    for event in (*subscribed, gone):
        assert (event.username, event.address) == ("kent-analyst", "192.0.2.7")
        assert event.occurred_at >= before
    service.close()


def test_an_administrator_subscribes_and_lists_from_the_command_line(
        world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(world)]
    assert main(["subscriptions", "add", "analyst", "--force", "surrey", "--format", "pdf",
                 "--email", "analyst@homeoffice.gov.uk", *db]) == 0
    assert main(["subscriptions", "list", *db]) == 0
    out = capsys.readouterr().out
    assert "analyst\tsurrey\tpdf\tanalyst@homeoffice.gov.uk\tnothing sent yet" in out
    (added,) = events(world, security.SUBSCRIBED)
    assert added.username.endswith("(command line)")
    assert main(["subscriptions", "remove", "analyst", "--force", "surrey", *db]) == 0
    assert main(["subscriptions", "remove", "analyst", "--force", "surrey", *db]) == 2


def test_a_removed_account_takes_its_subscriptions_with_it(world: Path) -> None:
    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "pptx", KENT_EMAIL)
    service.security.remove_user("kent-analyst", actor="tests")
    assert service.security.subscriptions() == []
    service.security.add_user("kent-analyst", "analyst", None, "kent", actor="tests")
    assert service.security.user("kent-analyst").email is None  # type: ignore[union-attr]
    service.close()


# --------------------------------------------------------------------------- what is due


def test_a_month_is_complete_when_the_forces_own_return_is_in_not_home_office_data(
        world: Path, tmp_path: Path) -> None:
    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "pptx", KENT_EMAIL)
    assert complete_months(service) == {} and due(service) == []
    # Home Office recorded crime for July to September 2025: not Kent's own return.
    recorded = tmp_path / "ho_recorded.csv"
    recorded.write_text(
        "Financial Year,Financial Quarter,Force Name,Offence Description,Offence Group,"
        "Offence Subgroup,Offence Code,Number of Offences\n"
        "2025-26,2,Kent,Rape of a female aged 16 and over,Sexual offences,Rape,19C,120\n",
        encoding="utf-8")
    # Nor does another force's return.
    service.load([recorded, one_value(tmp_path, "surrey", "2025-09")])
    assert complete_months(service) == {"surrey": SEPTEMBER} and due(service) == []
    load(service, one_value(tmp_path, "kent", "2025-08"))
    (item,) = due(service)
    assert (item.subscription.username, item.month, item.refusal) == (
        "kent-analyst", dt.date(2025, 8, 1), None)
    service.close()


def test_the_account_at_send_time_decides_and_one_no_longer_allowed_gets_nothing(
        world: Path, inbox: Inbox, tmp_path: Path) -> None:
    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "pptx", KENT_EMAIL)
    load(service, one_value(tmp_path, "kent", "2025-08"))
    # Moved to Surrey, then made a viewer: no pack is built, nothing is sent.
    service.security.set_role("kent-analyst", "analyst", "surrey", actor="tests")
    (moved,) = send_due(service, inbox.config())
    assert (moved.status, moved.detail) == (SKIPPED, "kent-analyst's account is limited to "
                                                     "surrey")
    service.security.set_role("kent-analyst", "viewer", "kent", actor="tests")
    (viewer,) = send_due(service, inbox.config())
    assert viewer.status == SKIPPED and "board packs need the analyst" in viewer.detail
    service.security.remove_user("kent-analyst", actor="tests")
    assert send_due(service, inbox.config()) == []
    assert inbox.count() == 0 and events(world, security.PACK_SENT) == []
    service.close()


def test_send_with_nowhere_to_send_to_says_so(world: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("FLIGHTDECK_SMTP_HOST", "FLIGHTDECK_MAIL_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["subscriptions", "send", "--db", str(world)]) == 2
    assert "set FLIGHTDECK_SMTP_HOST" in capsys.readouterr().err


def test_mail_settings_are_read_and_checked() -> None:
    mail = Settings.from_env({
        "FLIGHTDECK_SMTP_HOST": "relay.force.police.uk", "FLIGHTDECK_SMTP_PORT": "587",
        "FLIGHTDECK_MAIL_FROM": "flightdeck@force.police.uk",
        "FLIGHTDECK_SMTP_STARTTLS": "1", "FLIGHTDECK_SMTP_USER": "fd",
        "FLIGHTDECK_SMTP_PASSWORD": "secret relay password"}).mail
    assert (mail.smtp_host, mail.smtp_port, mail.starttls, mail.smtp_user) == (
        "relay.force.police.uk", 587, True, "fd")
    assert mail.configured and "secret" not in repr(mail)
    assert not Settings.from_env({}).mail.configured
    with pytest.raises(ValueError, match="FLIGHTDECK_SMTP_HOST needs FLIGHTDECK_MAIL_FROM"):
        MailConfig.from_env({"FLIGHTDECK_SMTP_HOST": "relay"})
    with pytest.raises(ValueError, match="FLIGHTDECK_SMTP_USER needs"):
        MailConfig.from_env({"FLIGHTDECK_SMTP_HOST": "relay", "FLIGHTDECK_MAIL_FROM": "a@b",
                             "FLIGHTDECK_SMTP_USER": "fd"})
    with pytest.raises(ValueError, match="FLIGHTDECK_SMTP_PORT must be a whole number"):
        MailConfig.from_env({"FLIGHTDECK_SMTP_PORT": "smtp"})
    assert subject("OFFICIAL-SENSITIVE", "Kent", SEPTEMBER) == SUBJECT


# --------------------------------------------------------------------------- a failing mail


@pytest.mark.slow  # builds three small board packs (about 4 s)
def test_a_mail_that_fails_never_fails_the_load_it_follows(
        world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "docx", KENT_EMAIL)
    # The relay is down: nothing listens on its port.
    down = MailConfig(smtp_host="127.0.0.1", smtp_port=free_port(),
                      mail_from="flightdeck@test.police.uk")
    # The command line's load...
    monkeypatch.setenv("FLIGHTDECK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("FLIGHTDECK_SMTP_PORT", str(down.smtp_port))
    monkeypatch.setenv("FLIGHTDECK_MAIL_FROM", down.mail_from)
    assert main(["load", str(one_value(tmp_path, "kent", "2025-08")), "--db", str(world)]) == 0
    assert "board pack failed: kent 2025-08 for kent-analyst" in capsys.readouterr().out
    # ... and the upload page's load job, as a force-scoped analyst.
    job = UploadJob(str(world), str(security_db_path(world)),
                    Principal("kent-analyst", Role.ANALYST, "kent"), "192.0.2.7",
                    (str(one_value(tmp_path, "kent", "2025-09")),), down)
    result = load_job(lambda _: None, job)
    assert result["outcome"] == LOADED and result["packs_sent"] == 0
    assert complete_months(service) == {"kent": SEPTEMBER}  # both loads landed
    failures = events(world, security.PACK_NOT_SENT)
    assert [e.detail.split(":")[0] for e in reversed(failures)] == [
        "kent 2025-08 board pack (docx)", "kent 2025-09 board pack (docx)"]
    assert all("ConnectionRefusedError" in e.detail for e in failures)
    assert events(world, security.PACK_SENT) == []
    # Nothing was recorded as sent: the next run tries again (and says it failed).
    assert [d.month for d in due(service)] == [SEPTEMBER]
    assert main(["subscriptions", "send", "--db", str(world)]) == 1
    service.close()


# --------------------------------------------------------------------------- real packs


@pytest.mark.slow  # builds a whole board pack (seconds)
def test_one_message_with_the_pack_when_the_month_completes_none_before_none_again(
        world: Path, kent_returns: dict[str, Path], inbox: Inbox,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "pptx", KENT_EMAIL)
    assert send_due(service, inbox.config()) == []  # Kent's return is not in
    for name, value in inbox.env().items():
        monkeypatch.setenv(name, value)
    # Kent's returns arrive: the load sends the pack of the latest complete month.
    assert main(["load", str(kent_returns["to-august"]), str(kent_returns["september"]),
                 "--db", str(world)]) == 0
    assert "board pack sent: kent 2025-09 for kent-analyst" in capsys.readouterr().out
    wait_until(lambda: inbox.count() == 1, "the board pack's message")
    (message,) = inbox.messages
    assert message["Subject"] == SUBJECT
    assert inbox.recipients == [[KENT_EMAIL]] and message["To"] == KENT_EMAIL
    body = message.get_body(("plain",))
    assert body is not None and "OFFICIAL-SENSITIVE" in body.get_content()
    name, data = attachment(message)
    assert name == "board-pack-kent-2025-09.pptx"
    text = pptx_text(data)
    assert "RASSO performance board pack: Kent, September 2025" in text
    assert "OFFICIAL-SENSITIVE" in text
    # Recorded and audited: who, what and the account's scope.
    (sent,) = events(world, security.PACK_SENT)
    assert sent.username == "kent-analyst"
    assert sent.detail.startswith(f"kent 2025-09 board pack (pptx, OFFICIAL-SENSITIVE) to "
                                  f"{KENT_EMAIL}: sent through 127.0.0.1:{inbox.port}")
    assert sent.detail.endswith("(account: analyst, kent)")
    assert service.security.subscriptions()[0].last_sent == SEPTEMBER
    # Another run, another load that completes nothing new for Kent: nothing more.
    assert send_due(service, inbox.config()) == []
    assert main(["load", str(write_long_return(world.parent / "surrey.csv", [
        ("surrey", "2025-09", "rape_reports", 40)])), "--db", str(world)]) == 0
    assert main(["subscriptions", "send", "--db", str(world)]) == 0
    assert inbox.count() == 1
    service.close()


@pytest.mark.slow  # builds board packs, their charts drawn by headless Chromium (~10 s)
def test_a_dry_run_writes_eml_files_and_sends_nothing(
        world: Path, kent_returns: dict[str, Path], inbox: Inbox, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf import PdfReader

    service = service_over(world)
    as_account(service, "kent-analyst").subscribe("kent", "pdf", KENT_EMAIL)
    for path in kent_returns.values():
        load(service, path)  # no mail configured here: the loads send nothing
    for name, value in inbox.env().items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "dry run"
    assert main(["subscriptions", "send", "--dry-run", str(folder), "--db", str(world)]) == 0
    (written,) = folder.glob("*.eml")
    assert inbox.count() == 0 and events(world, security.PACK_SENT) == []
    message = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == SUBJECT and message["To"] == KENT_EMAIL
    name, data = attachment(message)  # type: ignore[arg-type]
    assert name == "board-pack-kent-2025-09.pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "Kent, September 2025" in " ".join(text.split())
    (export,) = events(world, security.EXPORT)
    assert export.username == "kent-analyst" and "dry run" in export.detail
    assert [d.month for d in due(service)] == [SEPTEMBER]  # not recorded as sent
    # FLIGHTDECK_MAIL_DIR: written instead of sent, and recorded as sent.
    monkeypatch.setenv("FLIGHTDECK_MAIL_DIR", str(tmp_path / "outbox"))
    (outcome,) = send_due(service, MailConfig.from_env())
    assert outcome.status == WRITTEN and inbox.count() == 0
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert due(service) == [] and len(events(world, security.PACK_SENT)) == 1
    service.close()


# --------------------------------------------------------------------------- the page


def change_request(app: object, button: str, force: object, fmt: object, address: object
                   ) -> dict[str, object]:
    """The page's subscribe or unsubscribe callback, as the browser sends it."""
    from web import ids

    output = next(key for key in app.callback_map  # type: ignore[attr-defined]
                  if f"{ids.SUBSCRIPTIONS}.children" in key)
    return {
        "output": output,
        "outputs": [{"id": ids.SUBSCRIPTIONS, "property": "children"},
                    {"id": ids.SUBSCRIPTION_MESSAGE, "property": "children"}],
        "inputs": [{"id": name, "property": "n_clicks", "value": 1 if name == button else None}
                   for name in (ids.SUBSCRIBE, ids.UNSUBSCRIBE)],
        "state": [{"id": ids.SUBSCRIPTION_FORCE, "property": "value", "value": force},
                  {"id": ids.SUBSCRIPTION_FORMAT, "property": "value", "value": fmt},
                  {"id": ids.SUBSCRIPTION_EMAIL, "property": "value", "value": address}],
        "changedPropIds": [f"{button}.n_clicks"],
    }


@pytest.mark.slow  # a signed-in app and several callbacks (over a second)
def test_the_page_subscribes_and_unsubscribes_the_signed_in_account_within_its_scope(
        secured_db: Path) -> None:
    from tests.conftest import app_over
    from tests.test_security import BASE, render_page, signed_in
    from web import ids

    app = app_over(secured_db)
    client = signed_in(app, "kent-analyst")
    page = render_page(client, "/subscriptions").get_data(as_text=True)
    assert ids.SUBSCRIPTION_EMAIL in page and "You have no subscriptions" in page
    assert '"value": "kent"' in page.replace('":"', '": "') and "Surrey" not in page

    def post(button: str, force: object, fmt: object = "pdf",
             address: object = KENT_EMAIL) -> str:
        response = client.post(f"{BASE}/_dash-update-component",
                               json=change_request(app, button, force, fmt, address))
        assert response.status_code == 200, response.data[:300]
        return response.get_data(as_text=True)

    assert "Not changed: Your account is limited to Kent" in post(ids.SUBSCRIBE, "surrey")
    done = post(ids.SUBSCRIBE, "kent")
    assert "Subscribed: Kent" in done and KENT_EMAIL in done
    store = SecurityStore(security_db_path(secured_db))
    assert [(s.username, s.force_slug, s.format) for s in store.subscriptions()] == [
        ("kent-analyst", "kent", "pdf")]
    (event,) = store.events(event=security.SUBSCRIBED)
    assert (event.username, event.address) == ("kent-analyst", "127.0.0.1")
    assert "Unsubscribed from Kent" in post(ids.UNSUBSCRIBE, "kent")
    assert store.subscriptions() == []
    store.close()
    # A viewer is told packs are for analysts; no form.
    viewer = render_page(signed_in(app, "viewer"), "/subscriptions").get_data(as_text=True)
    assert ids.SUBSCRIPTIONS_NOT_ALLOWED in viewer and ids.SUBSCRIPTION_EMAIL not in viewer


@pytest.mark.browser
def test_an_account_subscribes_from_the_account_menu_in_a_real_browser(
        chromium: object, secured_db: Path, tmp_path: Path) -> None:
    from tests.conftest import served
    from tests.pages import DEFAULT_TIMEOUT_MS, open_app
    from tests.test_accessibility import describe, run_axe
    from tests.test_browser_sign_in import sign_in
    from web import ids

    with served(secured_db, tmp_path / "server.log") as server:
        app = open_app(chromium, server.url)  # type: ignore[arg-type]
        app.page.goto(f"{server.url}/")
        app.page.wait_for_selector("#sign-in", timeout=DEFAULT_TIMEOUT_MS)
        sign_in(app, "kent-analyst")
        app.wait_for_page()
        app.page.click(f"#{ids.ACCOUNT_MENU} .dropdown-toggle, #{ids.ACCOUNT_MENU}")
        app.page.click(f"#{ids.SUBSCRIPTIONS_LINK}")
        app.wait_for_heading("Board packs by email")
        violations = run_axe(app)
        assert violations == [], describe(violations)
        app.page.fill(f"#{ids.SUBSCRIPTION_EMAIL}", KENT_EMAIL)
        app.page.click(f"#{ids.SUBSCRIPTION_FORMAT} label:has-text('Word')")
        app.page.click(f"#{ids.SUBSCRIBE}")
        app.wait_for_text(f"#{ids.SUBSCRIPTION_MESSAGE}", "Subscribed: Kent")
        app.wait_for_text(f"#{ids.SUBSCRIPTIONS}", "Word")
        app.page.click(f"#{ids.UNSUBSCRIBE}")
        app.wait_for_text(f"#{ids.SUBSCRIPTION_MESSAGE}", "Unsubscribed from Kent")
        app.wait_for_text(f"#{ids.SUBSCRIPTIONS}", "You have no subscriptions")
        assert app.console_errors() == []
