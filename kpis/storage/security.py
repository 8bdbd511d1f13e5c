"""Users, the audit log and sign-in throttling, kept in their own DuckDB file.

They live beside the flight deck's database, not in it: a sign-in writes an audit
row, and publishing the data file for that would copy all the observations and make
every worker reload its dataset. It is a store of its own (``kpis.storage.backend``,
with this module's tables as its schema), so writes still go through the one write
path (``Store.write``: a private copy published by atomic rename), a killed process
never leaves a half-written user or audit row, and every web worker reads the file
read-only.

Passwords are stored only as Argon2id hashes (argon2-cffi: the password-hashing
competition's winner and OWASP's first recommendation, salted per password, memory
hard), never in plain text. Failed sign-ins are counted from the audit log itself, so
the throttle holds across worker processes and restarts.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import re
import secrets
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import argon2
import sqlalchemy as sa

from kpis.domain.access import ROLES, Action, Principal, Role
from kpis.domain.events import (
    ACCESS_DENIED,
    AUDIT_PRUNED,
    CATALOGUE_EXPORTED,
    DEFINITION_DRAFTED,
    DEFINITION_PUBLISHED,
    EVENTS,
    EXPORT,
    FEED,
    FEED_REFUSED,
    LOAD,
    LOAD_REFUSED,
    PACK_NOT_SENT,
    PACK_SENT,
    PASSWORD_SET,
    REFERENCE,
    REFERENCE_REFUSED,
    ROLE_SET,
    ROLLBACK,
    SIGN_IN,
    SIGN_IN_FAILED,
    SIGN_IN_THROTTLED,
    SIGN_OUT,
    SUBSCRIBED,
    SUBSCRIPTION_FORMATS,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    UNSUBSCRIBED,
    USER_ADDED,
    USER_DISABLED,
    USER_ENABLED,
    USER_REMOVED,
    UserError,
)
from kpis.settings import (
    AUTH_HEADER,
    SecurityConfig,
    as_location,
    is_loopback,
    resolve_security_db_path,
)
from kpis.storage import schema
from kpis.storage.audit_append import (
    ADDRESS_MOST,
    DETAIL_MOST,
    USERNAME_MOST,
    audit_time,
    printable,
)
from kpis.storage.backend import open_store
from kpis.storage.postgres import PostgresStore

__all__ = [
    "ACCESS_DENIED",
    "ACCOUNTS_PER_PAGE",
    "ACCOUNT_STATUSES",
    "ALL_FORCES",
    "CATALOGUE_EXPORTED",
    "DEFINITION_DRAFTED",
    "DEFINITION_PUBLISHED",
    "EVENTS",
    "EXPORT",
    "FEED",
    "FEED_REFUSED",
    "LOAD",
    "LOAD_REFUSED",
    "MAX_FAILURES_PER_ADDRESS",
    "MAX_FAILURES_PER_USER",
    "MAX_TOKENS_PER_ACCOUNT",
    "MIN_PASSWORD_LENGTH",
    "PACK_NOT_SENT",
    "PACK_SENT",
    "PASSWORD_SET",
    "REFERENCE",
    "REFERENCE_REFUSED",
    "ROLE_SET",
    "ROLLBACK",
    "SIGN_IN",
    "SIGN_IN_FAILED",
    "SIGN_IN_THROTTLED",
    "SIGN_OUT",
    "SUBSCRIBED",
    "SUBSCRIPTION_FORMATS",
    "THROTTLE_WINDOW",
    "TOKEN_CREATED",
    "TOKEN_REVOKED",
    "UNSUBSCRIBED",
    "USER_ADDED",
    "USER_DISABLED",
    "USER_ENABLED",
    "USER_REMOVED",
    "AccountPage",
    "ApiToken",
    "AuditEvent",
    "SecurityStore",
    "Subscription",
    "UnsecuredStart",
    "User",
    "UserError",
    "check_email",
    "check_start",
    "hash_token",
    "security_db_path",
    "temporary_password",
    "token_refusal",
]

MIN_PASSWORD_LENGTH = 12
# zxcvbn's score (0-4): 3 means it would take some 10^8 guesses or more. Common
# passwords, keyboard walks, repeats and words with a year added score lower.
MIN_PASSWORD_SCORE = 3
THROTTLE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5  # in the window, since that user's last successful sign-in
MAX_FAILURES_PER_ADDRESS = 20  # in the window, whatever the user names tried
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# API tokens for the data feeds: a prefix that says what the secret is, then 32 random
# bytes (256 bits: never guessed, so a plain SHA-256 of it is a safe thing to store).
TOKEN_PREFIX = "fdk_"
TOKEN_PATTERN = re.compile(r"^fdk_[A-Za-z0-9_-]{43}$")
MAX_TOKENS_PER_ACCOUNT = 10  # active (not revoked) at once
MAX_TOKEN_NAME_LENGTH = 60
# Temporary passwords an administrator's reset gives: four groups of five characters
# from 56 letters and digits that cannot be mistaken for each other (no 0/O, 1/l/I),
# some 116 bits, read out or typed without confusion.
TEMPORARY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
# The accounts list (layouts/accounts.py): a page at a time, filtered by status, and by
# scope: a force's slug, or ALL_FORCES for the accounts that cover every force.
ACCOUNTS_PER_PAGE = 25
ALL_FORCES = "all"
ACCOUNT_STATUSES: tuple[str, ...] = ("active", "disabled")
DISABLED_REFUSAL = "the account is disabled"

metadata = sa.MetaData()
schema.meta.to_metadata(metadata)  # the write path keeps a data version in ``meta``
audit_id_seq = sa.Sequence("audit_id_seq", metadata=metadata)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("force_slug", sa.String),  # NULL: every force
    sa.Column("display_name", sa.String, nullable=False),
    # NULL for a user who only signs in through the single sign-on proxy.
    sa.Column("password_hash", sa.String),
    # Changes whenever the password, role or scope changes: it is part of the session,
    # so every session issued before the change stops working.
    sa.Column("session_token", sa.String, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # Where the account's subscribed board packs go (NULL: none given yet). Schema 2.
    sa.Column("email", sa.String),
    # Schema 4: a disabled account cannot sign in, and its API tokens are refused; an
    # account whose password an administrator set must choose its own at next sign-in.
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("must_change_password", sa.Boolean, nullable=False,
              server_default=sa.false()),
)

# An account's subscription to one force's monthly board pack (kpis.subscriptions sends
# them). The marking, scope and role are the account's at send time, not stored here.
pack_subscriptions = sa.Table(
    "pack_subscriptions",
    metadata,
    sa.Column("username", sa.String, primary_key=True),
    sa.Column("force_slug", sa.String, primary_key=True),
    sa.Column("format", sa.String, nullable=False),  # pptx | pdf | docx
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Each month's pack sent to a subscriber: a month goes to an account once.
packs_sent = sa.Table(
    "packs_sent",
    metadata,
    sa.Column("username", sa.String, primary_key=True),
    sa.Column("force_slug", sa.String, primary_key=True),
    sa.Column("period_start", sa.Date, primary_key=True),
    sa.Column("sent_at", sa.DateTime, nullable=False),
)

# Each account's API tokens for the data feeds (web/feeds.py). Only the SHA-256 of the
# secret is kept: the secret is shown once, when it is made. A token acts as its account
# as the account is at each request (role and scope), and goes with the account.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String, primary_key=True),  # public: names it to revoke it
    sa.Column("username", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),  # what it is for, e.g. "Power BI"
    sa.Column("token_hash", sa.String, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_used_at", sa.DateTime),  # NULL: never used
    sa.Column("revoked_at", sa.DateTime),  # NULL: in use
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    schema.serial_key("event_id", audit_id_seq),
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("event", sa.String, nullable=False),
    sa.Column("username", sa.String, nullable=False),  # who acted (or who was named)
    sa.Column("address", sa.String, nullable=False),  # the client address, "" from the CLI
    sa.Column("detail", sa.String, nullable=False),
    # The throttle's two counts (failed sign-ins by name and by address, recent ones
    # first) and the retention's prune read these instead of the whole log.
    sa.Index("audit_by_user", "event", "username", "occurred_at"),
    sa.Index("audit_by_address", "event", "address", "occurred_at"),
    sa.Index("audit_by_time", "occurred_at"),
)

# The users and audit file's schema and its versions (kpis.storage.schema explains them).
def _board_pack_subscriptions(conn: sa.Connection) -> None:
    """1 -> 2: accounts have an email address, and may subscribe to a force's monthly
    board pack (``pack_subscriptions``, with ``packs_sent`` recording what went).

    Nothing to move: the new tables start empty and every account's address unset,
    which the rebuild does by itself."""


def _api_tokens(conn: sa.Connection) -> None:
    """2 -> 3: accounts may hold API tokens for the data feeds (``api_tokens``).

    Nothing to move: the new table starts empty, which the rebuild does by itself."""


def _account_status(conn: sa.Connection) -> None:
    """3 -> 4: accounts may be disabled (``users.disabled``) and may have to change an
    administrator's password at their next sign-in (``users.must_change_password``).

    Every account already stored stays active with its own password. Plain
    ``ALTER TABLE ... ADD COLUMN`` with a default (no DuckDB-only functions), so the same
    step runs on PostgreSQL."""
    schema._add_columns(conn, users.name, (
        ("disabled", "BOOLEAN NOT NULL DEFAULT FALSE"),
        ("must_change_password", "BOOLEAN NOT NULL DEFAULT FALSE")))


# (kpis.storage.audit_append appends a command's audit row to a file at this version
# with DuckDB alone: a new version needs its SQL checked, tests/test_audit_append.py.)
SECURITY_SCHEMA = schema.VersionedSchema("users and audit file", metadata, 4,
                                         {1: _board_pack_subscriptions, 2: _api_tokens,
                                          3: _account_status},
                                         namespace="flightdeck_security")

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path
# One plain address (no display name, no comments): what the relay is given as is.
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")

_HASHER = argon2.PasswordHasher()  # RFC 9106 low-memory profile: Argon2id, 64 MiB, t=3


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so a wrong name costs as long as a wrong
    password and the timing does not tell which names exist."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    force_slug: str | None
    display_name: str
    session_token: str
    has_password: bool
    email: str | None = None  # where subscribed board packs go
    disabled: bool = False  # no sign-in, no API tokens, no board packs
    must_change_password: bool = False  # an administrator's password: change it first

    def principal(self) -> Principal:
        return Principal(username=self.username, role=self.role, force=self.force_slug,
                         display_name=self.display_name)


@dataclass(frozen=True)
class Subscription:
    """An account's subscription to one force's monthly board pack."""

    username: str
    force_slug: str
    format: str  # pptx | pdf | docx
    created_at: dt.datetime
    last_sent: dt.date | None  # the latest month sent to this account (None: none yet)


@dataclass(frozen=True)
class ApiToken:
    """An account's API token for the data feeds (never its secret: only a hash is kept)."""

    token_id: str
    username: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AccountPage:
    """One page of the accounts list: the accounts on it (by user name), how many match
    the filters in all, and when each account on the page last signed in."""

    accounts: tuple[User, ...]
    total: int  # accounts matching the filters, on every page
    page: int  # 1-based, within 1 .. pages
    pages: int  # at least 1, even with nothing to show
    per_page: int
    last_sign_in: Mapping[str, dt.datetime]  # user name -> latest sign-in (if any)

    @property
    def first(self) -> int:
        """The position of the page's first account in the whole list (0: none)."""
        return (self.page - 1) * self.per_page + 1 if self.accounts else 0

    @property
    def last(self) -> int:
        """The position of the page's last account in the whole list (0: none)."""
        return self.first + len(self.accounts) - 1 if self.accounts else 0

    def showing(self) -> str:
        if not self.accounts:
            return "No accounts match."
        return f"Showing {self.first:,}-{self.last:,} of {self.total:,}"


def temporary_password() -> str:
    """A password for an administrator to hand over once, such as 'Kq7mT-w3Hzp-...':
    random (``secrets``), 23 characters, well past the length and strength rules."""
    return "-".join("".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(5))
                    for _ in range(4))


def hash_token(secret: str) -> str:
    """What is stored of a token: the SHA-256 of its secret, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_refusal(user: User | None) -> str | None:
    """Why ``user`` may not hold or use an API token now (None: they may). A feed is an
    export, so the account must have the export right (analysts and admins)."""
    if user is None:
        return "there is no such account"
    if user.disabled:
        return f"{user.username}'s account is disabled"
    if not user.principal().may(Action.EXPORT):
        return (f"{user.username} is a {user.role.value}: data feeds are exports, for "
                "analysts and administrators")
    return None


@dataclass(frozen=True)
class AuditEvent:
    event_id: int
    occurred_at: dt.datetime
    event: str
    username: str
    address: str
    detail: str


#: The users and audit file: $FLIGHTDECK_SECURITY_DB, else beside the database (read by
#: :mod:`kpis.settings`, where every setting is read).
security_db_path = resolve_security_db_path


def _now() -> dt.datetime:
    return audit_time()


def _check_username(username: str) -> str:
    if not USERNAME_PATTERN.match(username or ""):
        raise UserError(f"User name {username!r} is not valid: use 1 to 64 letters, digits "
                        "and . _ @ - (starting with a letter or digit).")
    return username


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
    return Role(role)


def check_password(password: str) -> str:
    """The password, if it is acceptable; else UserError saying why."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip() != password or not password.isprintable():
        raise UserError("The password must not start or end with spaces or hold control "
                        "characters.")
    from zxcvbn import zxcvbn  # its word lists take a moment to load: only when needed

    strength = zxcvbn(password[:100])
    if strength["score"] < MIN_PASSWORD_SCORE:
        warning = strength["feedback"].get("warning") or "It is too easy to guess."
        raise UserError(f"That password is too easy to guess: {warning.rstrip('.')}. Use "
                        "a few unrelated words, or a password manager's password.")
    return password


def check_email(address: str) -> str:
    """The email address, if it is one plain address; else UserError saying why."""
    address = (address or "").strip()
    if len(address) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.match(address):
        raise UserError(f"{printable(address[:80])!r} is not an email address such as "
                        "name@force.police.uk.")
    return address


def subscription_refusal(user: User | None, force_slug: str) -> str | None:
    """Why ``user`` may not have ``force_slug``'s board pack now (None: they may).

    The rules a subscription is checked against when it is made and again before every
    send: the account exists, may export (packs are exports), and covers the force."""
    if user is None:
        return "there is no such account"
    if user.disabled:
        return f"{user.username}'s account is disabled"
    if not user.principal().may(Action.EXPORT):
        return (f"{user.username} is a {user.role.value}: board packs need the analyst "
                "or admin role")
    if user.force_slug is not None and user.force_slug != force_slug:
        return f"{user.username}'s account is limited to {user.force_slug}"
    return None


class SecurityStore:
    """Users and the audit log in the file at ``path`` (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = as_location(path)
        self._store = open_store(self.path, SECURITY_SCHEMA)  # opens nothing until used
        # Users as of one version of the file: every request looks its user up, and
        # the file changes only when someone signs in or an account changes.
        self._lock = threading.Lock()
        self._cached_identity: Hashable | None = None
        self._cached_users: dict[str, User] = {}
        # Active tokens by the hash of their secret, as of one version of the file.
        self._tokens_identity: Hashable | None = None
        self._cached_tokens: dict[str, ApiToken] = {}

    # ------------------------------------------------------------------ reading

    def _read(self, statement: sa.Select) -> list[sa.Row]:
        if not self._store.exists():
            return []
        with self._store.connect() as conn:
            return list(conn.execute(statement))

    def _current_users(self) -> dict[str, User]:
        identity = self._store.identity if self._store.exists() else None
        with self._lock:
            if identity is not None and identity == self._cached_identity:
                return self._cached_users
        found = {u.username: u for u in map(_user, self._read(sa.select(users)))}
        with self._lock:
            self._cached_identity, self._cached_users = identity, found
        return found

    def has_users(self) -> bool:
        return bool(self._current_users())

    def users(self) -> list[User]:
        return sorted(self._current_users().values(), key=lambda u: u.username)

    def user(self, username: str) -> User | None:
        return self._current_users().get(username)

    def accounts(self, query: str = "", role: str | None = None, force: str | None = None,
                 status: str | None = None, page: int = 1,
                 per_page: int = ACCOUNTS_PER_PAGE) -> AccountPage:
        """One page of the accounts, by user name: those whose user name or display name
        holds ``query`` (any case), of ``role``, scoped to ``force`` (``ALL_FORCES``: the
        accounts that cover every force) and ``status`` (active or disabled); None or ""
        for any. ``page`` is kept within the pages there are. Counted and paged in SQL,
        with each listed account's latest sign-in from the audit log."""
        if status and status not in ACCOUNT_STATUSES:
            raise UserError(f"Status {status!r} is not one of {', '.join(ACCOUNT_STATUSES)}.")
        conditions: list[sa.ColumnElement[bool]] = []
        words = " ".join((query or "").split()).lower()
        if words:
            conditions.append(sa.or_(
                sa.func.lower(users.c.username).contains(words, autoescape=True),
                sa.func.lower(users.c.display_name).contains(words, autoescape=True)))
        if role:
            conditions.append(users.c.role == _check_role(role).value)
        if force == ALL_FORCES:
            conditions.append(users.c.force_slug.is_(None))
        elif force:
            conditions.append(users.c.force_slug == force)
        if status:
            conditions.append(users.c.disabled == (status == "disabled"))
        per_page = max(1, per_page)
        if not self._store.exists():
            return AccountPage((), 0, 1, 1, per_page, {})
        with self._store.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(users)
                                 .where(*conditions)).scalar_one()
            pages = max(1, math.ceil(total / per_page))
            page = min(max(1, page), pages)
            found = tuple(_user(row) for row in conn.execute(
                sa.select(users).where(*conditions).order_by(users.c.username)
                .limit(per_page).offset((page - 1) * per_page)))
            names = [user.username for user in found]
            last = {name: at for name, at in conn.execute(
                sa.select(audit_log.c.username, sa.func.max(audit_log.c.occurred_at))
                .where(audit_log.c.event == SIGN_IN, audit_log.c.username.in_(names))
                .group_by(audit_log.c.username))} if names else {}
        return AccountPage(found, total, page, pages, per_page, last)

    def active_national_admins(self) -> list[str]:
        """The user names of the active administrators who cover every force."""
        return [u.username for u in self.users()
                if u.role == Role.ADMIN and u.force_slug is None and not u.disabled]

    def tokens(self, username: str | None = None, include_revoked: bool = False
               ) -> list[ApiToken]:
        """The API tokens (``username``'s, or everyone's), newest first."""
        statement = sa.select(api_tokens).order_by(api_tokens.c.created_at.desc(),
                                                   api_tokens.c.token_id)
        if username is not None:
            statement = statement.where(api_tokens.c.username == username)
        if not include_revoked:
            statement = statement.where(api_tokens.c.revoked_at.is_(None))
        return [_token(row) for row in self._read(statement)]

    def token_for(self, secret: str) -> tuple[ApiToken, User] | None:
        """The active token whose secret this is and its account as it is now; None for
        anything else (malformed, unknown, revoked, or its account removed)."""
        if not TOKEN_PATTERN.match(secret or ""):
            return None
        identity = self._store.identity if self._store.exists() else None
        with self._lock:
            cached = identity is not None and identity == self._tokens_identity
            found = self._cached_tokens if cached else None
        if found is None:
            rows = self._read(sa.select(api_tokens).where(api_tokens.c.revoked_at.is_(None)))
            found = {row.token_hash: _token(row) for row in rows}
            with self._lock:
                self._tokens_identity, self._cached_tokens = identity, found
        token = found.get(hash_token(secret))
        user = self.user(token.username) if token is not None else None
        return (token, user) if token is not None and user is not None else None

    def events(self, limit: int = 500, event: str | None = None,
               username: str | None = None) -> list[AuditEvent]:
        """The latest audit events, newest first."""
        statement = sa.select(audit_log).order_by(audit_log.c.event_id.desc()).limit(limit)
        if event:
            statement = statement.where(audit_log.c.event == event)
        if username:
            statement = statement.where(audit_log.c.username == username)
        return [AuditEvent(**row._mapping) for row in self._read(statement)]

    def close(self) -> None:
        self._store.close()

    # ------------------------------------------------------------------ sign-in

    def throttled(self, username: str, address: str, now: dt.datetime | None = None,
                  pending: tuple[int, int] = (0, 0)) -> bool:
        """Too many recent failed sign-ins for this user name, or from this address.

        ``pending``: attempts for the user name and from the address being checked
        now, not yet recorded (they count as failures until they are)."""
        since = (now or _now()) - THROTTLE_WINDOW
        failed = audit_log.c.event == SIGN_IN_FAILED
        last_success = (
            sa.select(sa.func.coalesce(sa.func.max(audit_log.c.event_id), 0))
            .where(audit_log.c.event == SIGN_IN, audit_log.c.username == username)
            .scalar_subquery()
        )
        by_user = sa.select(sa.func.count()).where(
            failed, audit_log.c.username == username, audit_log.c.occurred_at >= since,
            audit_log.c.event_id > last_success)
        by_address = sa.select(sa.func.count()).where(
            failed, audit_log.c.address == address, audit_log.c.occurred_at >= since)
        user_pending, address_pending = pending
        if not self._store.exists():
            user_failed, address_failed = 0, 0
        else:
            user_failed = self._read(by_user)[0][0]
            address_failed = self._read(by_address)[0][0] if address else 0
        return (user_failed + user_pending >= MAX_FAILURES_PER_USER
                or address_failed + address_pending >= MAX_FAILURES_PER_ADDRESS)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is theirs and the account may sign in, else None
        (no audit: the caller records)."""
        return self.check_sign_in(username, password)[0]

    def check_sign_in(self, username: str, password: str) -> tuple[User | None, str]:
        """(the user, "") if the password is theirs and the account may sign in; else
        (None, why): why is "" for a wrong password or an unknown name, and
        ``DISABLED_REFUSAL`` for a disabled account whose password is right (only the
        password's holder learns that it is disabled). No audit: the caller records."""
        user_row = self._read(sa.select(users).where(users.c.username == username))
        stored = user_row[0].password_hash if user_row else None
        try:
            _HASHER.verify(stored or _dummy_hash(), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return None, ""
        if not stored:
            return None, ""
        user = _user(user_row[0])
        return (None, DISABLED_REFUSAL) if user.disabled else (user, "")

    # ------------------------------------------------------------------ writing

    def record(self, event: str, username: str, detail: str = "", address: str = "",
               at: dt.datetime | None = None) -> None:
        """Append one event to the audit log."""
        with self._store.write() as conn:
            _insert_event(conn, event, username, detail, address, at)

    def record_when_told(self, event: str, username: str,
                         detail: Callable[[], str | None]) -> bool:
        """Append one event whose detail is known only later: the write is begun (on a
        DuckDB users file: the file copied, the transaction open), then ``detail()``
        waited for, so that little is left to do once it comes. None from it: nothing
        is written (the transaction rolled back). Whether the event was written. For a
        command's audit row prepared while the command works (kpis.background_audit)."""
        try:
            with self._store.write() as conn:
                text = detail()
                if text is None:
                    raise _NotWanted
                _insert_event(conn, event, username, text)
        except _NotWanted:
            return False
        return True

    def record_with(self, conn: sa.Connection, event: str, username: str, detail: str = "",
                    address: str = "") -> bool:
        """Append the event inside the transaction of ``conn``, a write to the flight
        deck's data, when this log is in the same PostgreSQL database: the action and
        its audit row commit together or not at all. False (nothing written) when it is
        elsewhere (a DuckDB users file): the caller records it after the action."""
        store = self._store
        if not isinstance(store, PostgresStore) or conn.dialect.name != "postgresql":
            return False
        if conn.engine.url.render_as_string(hide_password=True) != store.location:
            return False
        if not store.exists():
            return False
        in_log = conn.execution_options(schema_translate_map={None: store.namespace})
        _insert_event(in_log, event, username, detail, address)
        return True

    def prune(self, before: dt.datetime, actor: str) -> int:
        """Delete the audit rows older than ``before`` (the retention setting); the
        prune itself is recorded. Returns the rows deleted."""
        with self._store.write() as conn:
            deleted = conn.execute(sa.delete(audit_log).where(
                audit_log.c.occurred_at < before)).rowcount
            _insert_event(conn, AUDIT_PRUNED, actor,
                          f"{deleted} events before {before:%Y-%m-%d %H:%M} deleted")
        return int(deleted)

    def add_user(self, username: str, role: str, password: str | None,
                 force_slug: str | None = None, display_name: str = "",
                 actor: str = "", known_forces: Sequence[str] | None = None, *,
                 must_change_password: bool = False, address: str = "") -> User:
        """Add an account (UserError if the name is taken or anything is not valid).
        ``must_change_password``: the password is an administrator's, to be replaced at
        the first sign-in. Audited as ``actor``."""
        _check_username(username)
        role_value = _check_role(role)
        _check_force(force_slug, known_forces)
        hashed = _HASHER.hash(check_password(password)) if password is not None else None
        with self._store.write() as conn:
            if conn.execute(sa.select(users.c.username).where(users.c.username == username)
                            ).first():
                raise UserError(f"There is already a user called {username!r}.")
            now = _now()
            conn.execute(sa.insert(users).values(
                username=username, role=role_value.value, force_slug=force_slug,
                display_name=display_name.strip() or username, password_hash=hashed,
                session_token=secrets.token_urlsafe(16), created_at=now, updated_at=now,
                must_change_password=must_change_password and hashed is not None,
            ))
            _insert_event(conn, USER_ADDED, actor or username,
                          f"{username}: {role_value.value}, {force_slug or 'all forces'}"
                          + ("" if hashed is not None else ", single sign-on only"),
                          address)
        user = self.user(username)
        assert user is not None
        return user

    def remove_user(self, username: str, actor: str = "") -> None:
        with self._store.write() as conn:
            if not conn.execute(sa.delete(users).where(users.c.username == username)
                                ).rowcount:
                raise UserError(f"There is no user called {username!r}.")
            # Their subscriptions and API tokens go with them: a later account of the
            # same name starts with none (the audit log keeps what was sent).
            for table in (pack_subscriptions, packs_sent, api_tokens):
                conn.execute(sa.delete(table).where(table.c.username == username))
            _insert_event(conn, USER_REMOVED, actor or username, username)

    def sign_out(self, username: str, address: str = "") -> None:
        """End every session of ``username`` (a session cookie is only signed, not
        stored, so a copy of it would otherwise live on until it expires)."""
        with self._store.write() as conn:
            conn.execute(sa.update(users).where(users.c.username == username).values(
                session_token=secrets.token_urlsafe(16)))
            _insert_event(conn, SIGN_OUT, username, "", address)

    def set_password(self, username: str, password: str, actor: str = "", *,
                     address: str = "", detail: str = "") -> None:
        """The account's own password now (any administrator's temporary one is
        replaced: nothing to change at the next sign-in); its sessions end. Audited."""
        hashed = _HASHER.hash(check_password(password))
        self._update(username, {"password_hash": hashed, "must_change_password": False},
                     PASSWORD_SET, detail or username, actor, address)

    def reset_password(self, username: str, password: str | None = None, actor: str = "",
                       address: str = "") -> str:
        """An administrator's reset: ``password`` (None: a :func:`temporary_password`)
        becomes the account's, to be changed at its next sign-in; its sessions end.
        Returns the password set, for the administrator to hand over once. Audited as
        "reset by ``actor``"."""
        chosen = temporary_password() if password is None else password
        hashed = _HASHER.hash(check_password(chosen))
        how = "a temporary password" if password is None else "a password they typed"
        self._update(username, {"password_hash": hashed, "must_change_password": True},
                     PASSWORD_SET, f"{username}: reset by {actor or 'the operator'} ({how}, "
                     "to be changed at the next sign-in; sessions ended)", actor, address)
        return chosen

    def set_role(self, username: str, role: str, force_slug: str | None = None,
                 actor: str = "", known_forces: Sequence[str] | None = None, *,
                 address: str = "", keep_an_admin: bool = False) -> None:
        """Change the account's role and scope (None: every force); its sessions end.
        ``keep_an_admin``: refuse (UserError) to take away the last active administrator
        who covers every force, checked in the same transaction. Audited with the role
        and scope before and after."""
        role_value = _check_role(role)
        _check_force(force_slug, known_forces)
        with self._store.write() as conn:
            row = _account_row(conn, username)
            before = f"{row.role}, {row.force_slug or 'all forces'}"
            if keep_an_admin and not (role_value == Role.ADMIN and force_slug is None):
                _refuse_last_admin(conn, row, f"making it {role_value.value}, "
                                              f"{force_slug or 'all forces'}")
            conn.execute(sa.update(users).where(users.c.username == username).values(
                role=role_value.value, force_slug=force_slug,
                session_token=secrets.token_urlsafe(16), updated_at=_now()))
            _insert_event(conn, ROLE_SET, actor or username,
                          f"{username}: {role_value.value}, {force_slug or 'all forces'} "
                          f"(was {before})", address)

    def disable_user(self, username: str, actor: str = "", address: str = "") -> None:
        """Disable an account: it cannot sign in, its sessions end (the session token
        changes, as at sign-out) and its API tokens are refused until it is enabled
        again. Refused (UserError) for the last active administrator who covers every
        force, checked in the same transaction. Audited."""
        with self._store.write() as conn:
            row = _account_row(conn, username)
            if row.disabled:
                raise UserError(f"{username}'s account is disabled already.")
            _refuse_last_admin(conn, row, "disabling it")
            conn.execute(sa.update(users).where(users.c.username == username).values(
                disabled=True, session_token=secrets.token_urlsafe(16), updated_at=_now()))
            tokens = conn.execute(sa.select(sa.func.count()).where(
                api_tokens.c.username == username, api_tokens.c.revoked_at.is_(None))
            ).scalar_one()
            _insert_event(conn, USER_DISABLED, actor or username,
                          f"{username} ({row.role}, {row.force_slug or 'all forces'}): "
                          f"sessions ended, {tokens} API token(s) refused while disabled",
                          address)

    def enable_user(self, username: str, actor: str = "", address: str = "") -> None:
        """Let a disabled account sign in again (its API tokens in use work again)."""
        with self._store.write() as conn:
            row = _account_row(conn, username)
            if not row.disabled:
                raise UserError(f"{username}'s account is not disabled.")
            conn.execute(sa.update(users).where(users.c.username == username).values(
                disabled=False, updated_at=_now()))
            _insert_event(conn, USER_ENABLED, actor or username,
                          f"{username} ({row.role}, {row.force_slug or 'all forces'})",
                          address)

    def _update(self, username: str, values: dict[str, object], event: str, detail: str,
                actor: str, address: str = "") -> None:
        with self._store.write() as conn:
            changed = conn.execute(
                sa.update(users).where(users.c.username == username).values(
                    **values, session_token=secrets.token_urlsafe(16), updated_at=_now())
            ).rowcount
            if not changed:
                raise UserError(f"There is no user called {username!r}.")
            _insert_event(conn, event, actor or username, detail, address)

    # ------------------------------------------------------------------ subscriptions

    def subscriptions(self, username: str | None = None) -> list[Subscription]:
        """Every subscription (or ``username``'s), with the latest month sent."""
        subs, sent = pack_subscriptions.c, packs_sent.c
        last_sent = (sa.select(sa.func.max(sent.period_start))
                     .where(sent.username == subs.username, sent.force_slug == subs.force_slug)
                     .scalar_subquery())
        statement = (sa.select(subs.username, subs.force_slug, subs.format, subs.created_at,
                               last_sent.label("last_sent"))
                     .order_by(subs.username, subs.force_slug))
        if username is not None:
            statement = statement.where(subs.username == username)
        return [Subscription(row.username, row.force_slug, row.format, row.created_at,
                             row.last_sent) for row in self._read(statement)]

    def subscribe(self, username: str, force_slug: str, fmt: str, email: str | None = None,
                  actor: str = "", address: str = "",
                  known_forces: Sequence[str] | None = None) -> Subscription:
        """Subscribe ``username`` to ``force_slug``'s monthly pack in ``fmt`` (replacing
        the format of a subscription they have), sent to ``email`` (which becomes the
        account's address) or the address the account has. Audited."""
        if fmt not in SUBSCRIPTION_FORMATS:
            raise UserError(f"Format {fmt!r} is not one of {', '.join(SUBSCRIPTION_FORMATS)}.")
        _check_force(force_slug, known_forces)
        given = check_email(email) if email else None
        with self._store.write() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            user = _user(row) if row else None
            refusal = subscription_refusal(user, force_slug)
            if user is None or refusal:
                raise UserError(f"{username} cannot subscribe to {force_slug}'s board pack: "
                                f"{refusal}.")
            recipient = given or user.email
            if not recipient:
                raise UserError("Give an email address to send the board pack to.")
            if recipient != user.email:
                conn.execute(sa.update(users).where(users.c.username == username)
                             .values(email=recipient))
            key = ((pack_subscriptions.c.username == username)
                   & (pack_subscriptions.c.force_slug == force_slug))
            conn.execute(sa.delete(pack_subscriptions).where(key))
            conn.execute(sa.insert(pack_subscriptions).values(
                username=username, force_slug=force_slug, format=fmt, created_at=_now()))
            _insert_event(conn, SUBSCRIBED, actor or username,
                          f"{username}: {force_slug} monthly board pack as {fmt} to "
                          f"{recipient} (account: {user.role.value}, "
                          f"{user.force_slug or 'all forces'})", address)
        return next(s for s in self.subscriptions(username) if s.force_slug == force_slug)

    def unsubscribe(self, username: str, force_slug: str, actor: str = "",
                    address: str = "") -> None:
        with self._store.write() as conn:
            removed = conn.execute(sa.delete(pack_subscriptions).where(
                pack_subscriptions.c.username == username,
                pack_subscriptions.c.force_slug == force_slug)).rowcount
            if not removed:
                raise UserError(f"{username} has no subscription to {force_slug}'s board "
                                "pack.")
            _insert_event(conn, UNSUBSCRIBED, actor or username,
                          f"{username}: {force_slug} monthly board pack", address)

    # ------------------------------------------------------------------ API tokens

    def create_token(self, username: str, name: str, actor: str = "", address: str = ""
                     ) -> tuple[ApiToken, str]:
        """Make an API token for ``username``'s account: (the token, its secret). The
        secret is returned once and never stored (only its hash). Audited."""
        name = " ".join((name or "").split())
        if not name or len(name) > MAX_TOKEN_NAME_LENGTH or not name.isprintable():
            raise UserError(f"Name the token in 1 to {MAX_TOKEN_NAME_LENGTH} characters, "
                            "such as 'Power BI monthly report'.")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._store.write() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
            user = _user(row) if row else None
            refusal = token_refusal(user)
            if user is None or refusal:
                raise UserError(f"No token for {username}: {refusal}.")
            active = conn.execute(sa.select(sa.func.count()).where(
                api_tokens.c.username == username, api_tokens.c.revoked_at.is_(None))
            ).scalar_one()
            if active >= MAX_TOKENS_PER_ACCOUNT:
                raise UserError(f"{username} has {active} tokens already, the most an "
                                "account may have: revoke one first.")
            token_id = secrets.token_hex(4)
            while conn.execute(sa.select(api_tokens.c.token_id).where(
                    api_tokens.c.token_id == token_id)).first():
                token_id = secrets.token_hex(4)
            conn.execute(sa.insert(api_tokens).values(
                token_id=token_id, username=username, name=name,
                token_hash=hash_token(secret), created_at=_now()))
            _insert_event(conn, TOKEN_CREATED, actor or username,
                          f"{username}: token {token_id} ({name}) for the data feeds "
                          f"(account: {user.role.value}, {user.force_slug or 'all forces'})",
                          address)
        token = next(t for t in self.tokens(username) if t.token_id == token_id)
        return token, secret

    def revoke_token(self, token_id: str, actor: str = "", address: str = "",
                     username: str | None = None) -> ApiToken:
        """Revoke an active token (``username``: only if it is that account's): it stops
        working at once. Audited; UserError if there is no such active token."""
        with self._store.write() as conn:
            key = (api_tokens.c.token_id == token_id) & api_tokens.c.revoked_at.is_(None)
            if username is not None:
                key = key & (api_tokens.c.username == username)
            row = conn.execute(sa.select(api_tokens).where(key)).first()
            if row is None:
                raise UserError(f"There is no token {printable(token_id[:20])!r} in use"
                                + (f" for {username}." if username else "."))
            conn.execute(sa.update(api_tokens).where(key).values(revoked_at=_now()))
            owner = conn.execute(sa.select(users).where(users.c.username == row.username)
                                 ).first()
            scope = (f" (account: {owner.role}, {owner.force_slug or 'all forces'})"
                     if owner else "")
            _insert_event(conn, TOKEN_REVOKED, actor or row.username,
                          f"{row.username}: token {row.token_id} ({row.name}){scope}",
                          address)
        return next(t for t in self.tokens(row.username, include_revoked=True)
                    if t.token_id == token_id)

    def record_feed(self, token: ApiToken, detail: str, address: str = "") -> None:
        """A feed request made with ``token``: its last use, and the audit line, together."""
        at = _now()
        with self._store.write() as conn:
            conn.execute(sa.update(api_tokens).where(api_tokens.c.token_id == token.token_id)
                         .values(last_used_at=at))
            _insert_event(conn, FEED, token.username,
                          f"token {token.token_id} ({token.name}): {detail}", address, at)

    def record_sent(self, username: str, force_slug: str, month: dt.date, detail: str,
                    at: dt.datetime | None = None) -> None:
        """Record that ``month``'s pack went to ``username``, and audit it, together."""
        at = at or _now()
        with self._store.write() as conn:
            done = conn.execute(sa.select(packs_sent.c.username).where(
                packs_sent.c.username == username, packs_sent.c.force_slug == force_slug,
                packs_sent.c.period_start == month)).first()
            if not done:
                conn.execute(sa.insert(packs_sent).values(
                    username=username, force_slug=force_slug, period_start=month, sent_at=at))
            _insert_event(conn, PACK_SENT, username, detail, at=at)



class UnsecuredStart(RuntimeError):
    """Serving would expose the unsecured demonstration to the network."""


def check_start(host: str, config: SecurityConfig, store: SecurityStore) -> None:
    """Refuse to serve anywhere but this machine without sign-in configured."""
    if is_loopback(host) or config.mode == AUTH_HEADER or store.has_users():
        return
    raise UnsecuredStart(
        f"refusing to serve on {host}: no user accounts are set up, so the flight deck "
        "would be open to anyone who can reach this address. Add an account first "
        "(flightdeck users add NAME --role admin), or use single sign-on "
        "(FLIGHTDECK_AUTH=header), or serve on 127.0.0.1 for an unsecured demonstration "
        "on this computer only.")


class _NotWanted(Exception):
    """An event whose detail never came: its write is rolled back."""


def _insert_event(conn: sa.Connection, event: str, username: str, detail: str,
                  address: str = "", at: dt.datetime | None = None) -> None:
    conn.execute(sa.insert(audit_log).values(
        occurred_at=at or _now(), event=event,
        username=printable(username)[:USERNAME_MOST],
        address=printable(address)[:ADDRESS_MOST], detail=printable(detail)[:DETAIL_MOST],
    ))


def _check_force(force_slug: str | None, known: Sequence[str] | None) -> None:
    if force_slug is not None and known is not None and force_slug not in known:
        raise UserError(f"There is no force {force_slug!r}: use a slug such as "
                        f"{', '.join(sorted(known)[:3])}.")


def _token(row: sa.Row) -> ApiToken:
    return ApiToken(token_id=row.token_id, username=row.username, name=row.name,
                    created_at=row.created_at, last_used_at=row.last_used_at,
                    revoked_at=row.revoked_at)


def _account_row(conn: sa.Connection, username: str) -> sa.Row:
    """The account's row as the write sees it (UserError if there is none)."""
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise UserError(f"There is no user called {printable(username[:64])!r}.")
    return row


def _refuse_last_admin(conn: sa.Connection, row: sa.Row, change: str) -> None:
    """UserError if the account of ``row`` is the last active administrator who covers
    every force: nobody would be left to manage accounts and the catalogue."""
    if row.role != Role.ADMIN.value or row.force_slug is not None or row.disabled:
        return
    others = conn.execute(sa.select(sa.func.count()).where(
        users.c.role == Role.ADMIN.value, users.c.force_slug.is_(None),
        users.c.disabled == sa.false(), users.c.username != row.username)).scalar_one()
    if not others:
        raise UserError(f"{row.username} is the last active administrator who covers every "
                        f"force: {change} would leave nobody to manage the accounts. Make "
                        "another account an administrator for all forces first.")


def _user(row: sa.Row) -> User:
    return User(username=row.username, role=Role(row.role), force_slug=row.force_slug,
                display_name=row.display_name, session_token=row.session_token,
                has_password=row.password_hash is not None, email=row.email,
                disabled=bool(row.disabled),
                must_change_password=bool(row.must_change_password))
