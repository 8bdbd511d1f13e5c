"""Board packs by email: each subscriber gets their force's monthly pack, once, when the
force's own return for the month is in.

An account subscribes to a force's pack in one format (``SecurityStore.subscribe``,
through the service for the account itself or ``flightdeck subscriptions add`` for an
administrator); the subscriptions and what was sent live in the users and audit file.

A month is *complete* for a force when the force's own return for it is in: the
database holds values of force-return measures for that force and month, from a load
still in force (``kpis.storage.coverage.load_coverage_frame``, the rule the data page's
return coverage uses). Home Office tables and computed measures do not count. A
subscription is *due* when its force's latest complete month is later than the latest
month sent to that account.

:func:`send_due` sends what is due, one message per subscriber with the pack attached.
The account is read again at send time: its role, force scope and so the marking are
what they are then, and an account that was removed, lost the export right or no
longer covers the force gets nothing. Each pack is built by
``kpis.exports.packs.build_pack`` through the service *as that account*, so it holds
exactly what the account may see. Every send (and every failure) is written to the
audit log; a send and its record are one write, and runs take a lock, so a month goes
to an account once however many loads and cron jobs race.

:func:`after_load` is what the load paths call (``flightdeck load`` and the upload
page's load job): it never raises, so a mail failure can never fail or undo a load.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from kpis.charts.specs import DEFAULT_MARKING
from kpis.domain.access import Action
from kpis.domain.periods import format_month, long_month
from kpis.service import FlightDeckService
from kpis.settings import MailConfig
from kpis.storage import security
from kpis.storage.coverage import load_coverage_frame
from kpis.storage.publication import file_lock
from kpis.storage.security import Subscription, User

__all__ = [
    "FORMAT_NAMES",
    "SUBJECT_TITLE",
    "Due",
    "MailNotConfigured",
    "Outcome",
    "after_load",
    "complete_months",
    "compose",
    "due",
    "marking_for",
    "send_due",
    "subject",
]

LOG = logging.getLogger(__name__)

SUBJECT_TITLE = "RASSO performance board pack"
FORMAT_NAMES = {"pptx": "PowerPoint", "pdf": "PDF", "docx": "Word"}
MEDIA_TYPES = {
    "pptx": ("application", "vnd.openxmlformats-officedocument.presentationml.presentation"),
    "pdf": ("application", "pdf"),
    "docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"),
}
SMTP_TIMEOUT = 120  # seconds: a pack is several megabytes
# SMTP's line endings, with headers kept on one line (RFC 5322 allows 998 characters):
# the standard library folds a subject that starts with "[" right after "Subject:",
# which readers then show with a leading space.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
# The sender of the audit events a run writes about itself (not about one account).
SYSTEM_NAME = "subscriptions"

# What a run did for one subscription.
SENT, WRITTEN, SKIPPED, FAILED = "sent", "written", "skipped", "failed"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class MailNotConfigured(RuntimeError):
    """Neither an SMTP relay nor a mail folder is set (README: Subscriptions)."""


@dataclass(frozen=True)
class Due:
    """A subscription whose force has a complete month the account has not been sent."""

    subscription: Subscription
    user: User | None  # the account as it is now (None: removed)
    month: dt.date
    refusal: str | None  # why the account gets nothing now (None: it gets the pack)


@dataclass(frozen=True)
class Outcome:
    """What a run did for one due subscription: sent, written (.eml), skipped, failed."""

    username: str
    force_slug: str
    month: dt.date
    status: str
    detail: str

    def __str__(self) -> str:
        return (f"{self.status}: {self.force_slug} {format_month(self.month)} for "
                f"{self.username}: {self.detail}")


# --------------------------------------------------------------------------- what is due


def complete_months(service: FlightDeckService) -> dict[str, dt.date]:
    """Each force's latest complete month: the latest its own return is in for."""
    if not service.reader.exists():
        return {}
    with service.reader.connect() as conn:
        frame = load_coverage_frame(conn)
    if frame.empty:
        return {}
    latest = frame.groupby("force_slug")["period_start"].max()
    return {str(slug): month.date() for slug, month in latest.items()}


def marking_for(user: User | None, force: str) -> str | None:
    """The protective marking of ``user``'s pack of ``force`` (None: they get none).

    It follows the account: an account that may have the pack covers the force, so it
    sees the force's own return figures whole, and the pack is OFFICIAL-SENSITIVE."""
    if security.subscription_refusal(user, force) is not None:
        return None
    return DEFAULT_MARKING


def due(service: FlightDeckService) -> list[Due]:
    """The subscriptions a run would send now, each with the account as it is now."""
    months = complete_months(service)
    users = {user.username: user for user in service.security.users()}
    found = []
    for sub in service.security.subscriptions():
        month = months.get(sub.force_slug)
        if month is None or (sub.last_sent is not None and month <= sub.last_sent):
            continue
        user = users.get(sub.username)
        refusal = security.subscription_refusal(user, sub.force_slug)
        if refusal is None and user is not None and not user.email:
            refusal = "the account has no email address"
        found.append(Due(sub, user, month, refusal))
    return found


# --------------------------------------------------------------------------- the message


def subject(marking: str, force_name: str, month: dt.date) -> str:
    """'[OFFICIAL-SENSITIVE] RASSO performance board pack: Kent, September 2025'."""
    return f"[{marking}] {SUBJECT_TITLE}: {force_name}, {long_month(month)}"


def attachment_name(force: str, month: dt.date, fmt: str) -> str:
    return f"board-pack-{force}-{format_month(month)}.{fmt}"


def compose(mail: MailConfig, user: User, force: str, force_name: str, month: dt.date,
            fmt: str, marking: str, pack: Path) -> EmailMessage:
    """The message: marking in the subject and at both ends of the body, pack attached."""
    assert user.email, "an account without an address is never sent a pack"
    period = long_month(month)
    message = EmailMessage(policy=MAIL_POLICY)
    message["Subject"] = subject(marking, force_name, month)
    message["From"] = mail.mail_from
    message["To"] = user.email
    message["Date"] = formatdate(localtime=True)
    domain = parseaddr(mail.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("board-pack", domain=domain)
    message.set_content("\n".join([
        marking,
        "",
        f"The {SUBJECT_TITLE} for {force_name}, {period}, is attached "
        f"({FORMAT_NAMES.get(fmt, fmt)}).",
        "",
        f"You are sent it because your flight deck account ({user.username}) subscribes "
        f"to {force_name}'s monthly pack, and {force_name}'s return for {period} is now "
        "in. The figures are as the flight deck held them when this was sent.",
        "",
        f"The pack is marked {marking}: store and share it accordingly.",
        "",
        "To stop these messages, unsubscribe on the flight deck's 'Board packs by email' "
        "page, or ask an administrator.",
        "",
        marking,
    ]) + "\n")
    maintype, subtype = MEDIA_TYPES[fmt]
    message.add_attachment(pack.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=attachment_name(force, month, fmt))
    return message


def write_eml(message: EmailMessage, folder: Path, name: str) -> Path:
    """Write the message to ``folder`` as ``name``.eml, whole or not at all (a folder
    another program collects from never sees half a message)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    partial = folder / f".{name}.eml.partial"
    partial.write_bytes(message.as_bytes(policy=MAIL_POLICY))
    os.replace(partial, path)
    return path


def smtp_send(mail: MailConfig, message: EmailMessage) -> None:
    """Hand the message to the configured relay (STARTTLS and login if configured)."""
    assert mail.smtp_host
    with smtplib.SMTP(mail.smtp_host, mail.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
        if mail.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if mail.smtp_user:
            smtp.login(mail.smtp_user, mail.smtp_password or "")
        smtp.send_message(message)


# --------------------------------------------------------------------------- sending


@contextlib.contextmanager
def _one_run_at_a_time(security_path: Path) -> Iterator[None]:
    """Hold the subscriptions' lock: a second run (another load, cron) waits, then finds
    what this one sent recorded and sends nothing twice."""
    lock_path = security_path.with_name(security_path.name + ".mail-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_path):
        yield


def send_due(service: FlightDeckService, mail: MailConfig, *, dry_run: Path | None = None,
             progress: Progress = _quiet) -> list[Outcome]:
    """Build and send every pack that is due; what was done for each.

    ``dry_run``: write each message to that folder as a .eml file instead, and record
    nothing as sent (a later run sends them). Otherwise messages go to the SMTP relay,
    or to ``mail.mail_dir`` as .eml files if that is set; either is recorded as sent and
    audited. One failure (a pack that cannot be built, a relay that refuses) is audited
    and the run goes on with the others. Raises MailNotConfigured when there is nowhere
    to send to.
    """
    if dry_run is None and not mail.configured:
        raise MailNotConfigured(
            "board packs cannot be sent: set FLIGHTDECK_SMTP_HOST and FLIGHTDECK_MAIL_FROM "
            "(or FLIGHTDECK_MAIL_DIR), or use --dry-run DIR")
    outcomes = []
    with _one_run_at_a_time(service.security.path), \
            tempfile.TemporaryDirectory(prefix="flightdeck-mail-") as folder:
        packs: dict[tuple[object, ...], Path] = {}
        for item in due(service):
            sub = item.subscription
            if item.refusal is not None:
                LOG.info("board pack not sent to %s: %s", sub.username, item.refusal)
                outcomes.append(Outcome(sub.username, sub.force_slug, item.month, SKIPPED,
                                        item.refusal))
                continue
            try:
                outcomes.append(_deliver(service, mail, item, Path(folder), packs, dry_run,
                                         progress))
            except Exception as problem:  # one subscriber's failure stops no other's
                LOG.exception("board pack for %s (%s, %s) not sent", sub.username,
                              sub.force_slug, format_month(item.month))
                reason = f"{type(problem).__name__}: {problem}"
                _audit_failure(service, sub.username,
                               f"{sub.force_slug} {format_month(item.month)} board pack "
                               f"({sub.format}): {reason}")
                outcomes.append(Outcome(sub.username, sub.force_slug, item.month, FAILED,
                                        reason))
    return outcomes


def _deliver(service: FlightDeckService, mail: MailConfig, item: Due, folder: Path,
             packs: dict[tuple[object, ...], Path], dry_run: Path | None,
             progress: Progress) -> Outcome:
    sub, user, month = item.subscription, item.user, item.month
    assert user is not None and user.email
    force, fmt = sub.force_slug, sub.format
    marking = marking_for(user, force)
    assert marking is not None
    # The pack is built as the account: its role and scope, read just now, decide what
    # the pack holds; the service refuses (and audits) anything the account may not do.
    principal = user.principal()
    account = service.for_principal(principal)
    account.require(Action.EXPORT, force)
    force_name = account.dataset().area_names.get(force, force)
    key = (principal.force, force, month, fmt, marking)  # same scope: the same pack
    pack = packs.get(key)
    if pack is None:
        from kpis.exports.packs import build_pack  # the writers load only when needed

        progress(f"Building {force_name}'s {long_month(month)} board pack "
                 f"({FORMAT_NAMES[fmt]}) for {user.username}")
        pack = build_pack(account, force, month, fmt, marking=marking,
                          out=folder / f"{len(packs)}-{attachment_name(force, month, fmt)}",
                          commentary=account.all_commentary(force, month))
        packs[key] = pack
    message = compose(mail, user, force, force_name, month, fmt, marking, pack)
    name = (f"{dt.datetime.now():%Y%m%d-%H%M%S}-{user.username}-{force}-"
            f"{format_month(month)}")
    scope = f"account: {user.role.value}, {user.force_slug or 'all forces'}"
    what = f"{force} {format_month(month)} board pack ({fmt}, {marking}) to {user.email}"
    if dry_run is not None:
        path = write_eml(message, dry_run, name)
        account.audit(security.EXPORT, f"{what}: dry run, written to {path}, not sent "
                                       f"({scope})")
        return Outcome(user.username, force, month, WRITTEN, f"written to {path} (dry run)")
    if mail.mail_dir is not None:
        path = write_eml(message, mail.mail_dir, name)
        where, status = f"written to {path}", WRITTEN
    else:
        progress(f"Sending {force_name}'s {long_month(month)} board pack to {user.email}")
        smtp_send(mail, message)
        where, status = f"sent through {mail.smtp_host}:{mail.smtp_port}", SENT
    service.security.record_sent(user.username, force, month, f"{what}: {where} ({scope})")
    return Outcome(user.username, force, month, status, f"{where}, to {user.email}")


def _audit_failure(service: FlightDeckService, username: str, detail: str) -> None:
    try:
        service.security.record(security.PACK_NOT_SENT, username, detail)
    except Exception:  # the log already has the failure; nothing more can be done
        LOG.exception("could not audit a board pack that was not sent")


def after_load(service: FlightDeckService, mail: MailConfig | None,
               progress: Progress = _quiet) -> list[Outcome]:
    """Send the packs a load made due, if mail is configured. Never raises: the load has
    landed whatever happens here, and a failure is logged and audited instead."""
    if mail is None or not mail.configured:
        return []
    try:
        return send_due(service, mail, progress=progress)
    except Exception as problem:
        LOG.exception("sending subscribed board packs after a load failed")
        _audit_failure(service, SYSTEM_NAME,
                       f"after a load: {type(problem).__name__}: {problem}")
        return []
