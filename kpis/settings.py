"""Every setting the flight deck reads from its environment, in one place.

:class:`Settings` is built once, by whoever starts the program (``python app.py``,
``flightdeck serve``, gunicorn's ``gunicorn.conf.py``, a test), with
:meth:`Settings.from_env`; nothing else reads ``FLIGHTDECK_*`` variables. The README's
"Settings" table lists every variable and ``tests/test_settings.py`` keeps it true.

The database is, in order of precedence: an explicit location (the CLI's ``--db``),
the ``FLIGHTDECK_DB`` environment variable, then ``data/flightdeck.duckdb``. A location
is a DuckDB file's path (a :class:`~pathlib.Path`) or a PostgreSQL URL (kept as text:
a path would collapse its "//"). Beside a file live the users file, the key that signs
session cookies and the folders of uploads and packs; with PostgreSQL the users and
audit log are in the same database and those folders are in ``FLIGHTDECK_STATE_DIR``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = DATA_DIR / "flightdeck.duckdb"
FORCES_CSV = DATA_DIR / "forces.csv"
CATALOGUE_FILE = DATA_DIR / "catalogue.yaml"
DB_ENV_VAR = "FLIGHTDECK_DB"
SECURITY_DB_ENV_VAR = "FLIGHTDECK_SECURITY_DB"
#: The key that signs session cookies: generated on first start, beside the database.
SECRET_FILE_NAME = ".flightdeck-secret-key"
#: The Chromium that draws chart images when neither variable names one (Debian's).
DEFAULT_CHROMIUM = "/usr/bin/chromium"

NATIONAL_SLUG = "england-and-wales"
NATIONAL_NAME = "England and Wales"


STATE_DIR_ENV_VAR = "FLIGHTDECK_STATE_DIR"
#: Where a database is: a DuckDB file (a Path) or a server's URL (text).
Location = Path | str
# A URL: a scheme of two or more characters, a colon and a slash ("postgresql+psycopg://"
# and, once pathlib has collapsed the slashes, "postgresql+psycopg:/").
URL_PATTERN = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]+):/")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a database server (a URL other than ``duckdb:``)."""
    found = URL_PATTERN.match(os.fspath(location))
    return bool(found) and found["scheme"].lower().split("+", 1)[0] != "duckdb"


def as_location(location: str | os.PathLike[str]) -> Location:
    """A database location as the rest of the program passes it: a server URL stays
    text, anything else is a path."""
    if isinstance(location, str) and is_database_url(location):
        return location
    return Path(location)


def state_dir(db: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Path:
    """The folder of uploads waiting to be loaded and of board pack jobs:
    $FLIGHTDECK_STATE_DIR, else beside a DuckDB file, else ``data/`` (every server of a
    national deployment must name one shared folder)."""
    from_env = _environ(environ).get(STATE_DIR_ENV_VAR, "").strip()
    if from_env:
        return _path(from_env)
    if is_database_url(db):
        return DATA_DIR
    return Path(db).resolve().parent


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _path(text: str | os.PathLike[str]) -> Path:
    return Path(text).expanduser().resolve()


def _location(text: str | os.PathLike[str]) -> Location:
    """:func:`as_location`, with a file made an absolute path."""
    location = as_location(text.strip() if isinstance(text, str) else text)
    return location if isinstance(location, str) else _path(location)


def resolve_db_path(explicit: str | os.PathLike[str] | None = None,
                    environ: Mapping[str, str] | None = None) -> Location:
    """The database to use: ``explicit`` if given, else $FLIGHTDECK_DB, else the default
    file. A PostgreSQL URL is returned as text, a file as an absolute path."""
    if explicit:
        return _location(explicit)
    from_env = _environ(environ).get(DB_ENV_VAR)
    if from_env:
        return _location(from_env)
    return DEFAULT_DB_PATH


def resolve_security_db_path(db_path: str | os.PathLike[str],
                             environ: Mapping[str, str] | None = None) -> Location:
    """The users and audit log: $FLIGHTDECK_SECURITY_DB, else a file beside a DuckDB
    database, else the same PostgreSQL database (in a schema of its own)."""
    from_env = _environ(environ).get(SECURITY_DB_ENV_VAR)
    if from_env:
        return _location(from_env)
    if isinstance(db_path, str) and is_database_url(db_path):
        return db_path
    db_path = Path(db_path)
    return db_path.with_name(db_path.stem + "-security.duckdb")


def chromium_path(environ: Mapping[str, str] | None = None) -> str:
    """The Chromium that draws chart images: $FLIGHTDECK_CHROMIUM, else $BROWSER_PATH
    (the variable Kaleido and Playwright know), else Debian's."""
    env = _environ(environ)
    return env.get("FLIGHTDECK_CHROMIUM") or env.get("BROWSER_PATH") or DEFAULT_CHROMIUM


def _whole_number(env: Mapping[str, str], name: str, default: int, least: int = 0) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None
    if value < least:
        raise ValueError(f"{name} must be at least {least}, not {value}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0, not {text}")
    return value


# --------------------------------------------------------------------------- security

AUTH_LOCAL = "local"  # accounts in the users file, signed in on the login page
AUTH_HEADER = "header"  # a single sign-on reverse proxy names the user in a header


@dataclass(frozen=True)
class SecurityConfig:
    """How the web app signs people in, from the environment (README: Security)."""

    mode: str = AUTH_LOCAL  # FLIGHTDECK_AUTH
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    user_header: str = "X-Remote-User"  # FLIGHTDECK_USER_HEADER
    session_hours: float = 8.0  # FLIGHTDECK_SESSION_HOURS: signed out after this long
    idle_minutes: float = 60.0  # FLIGHTDECK_IDLE_MINUTES: ... or this long unused
    secure_cookies: bool = True  # FLIGHTDECK_COOKIE_SECURE=0 only for plain-http trials
    secret_key: str | None = None  # FLIGHTDECK_SECRET_KEY (else a generated key file)
    # FLIGHTDECK_PROXY_HOPS: how many reverse proxies stand in front of the app; their
    # X-Forwarded-For and X-Forwarded-Proto give the client's address and scheme.
    proxy_hops: int = 0
    # FLIGHTDECK_HOSTS: the host names the app answers to (any, if empty; only this
    # machine's names in the unsecured demonstration, whatever is set).
    hosts: tuple[str, ...] = ()
    # FLIGHTDECK_MAX_UPLOAD_MB: the largest file the upload takes (a year's Home Office
    # outcomes workbook is up to 45 MB).
    max_upload_mb: int = 60
    # FLIGHTDECK_FEED_QUERY_TOKENS=1: the data feeds also take their API token as a
    # ``token`` query parameter (Power BI's Web API key, Excel's legacy web query), not
    # only in the Authorization header. Off by default: an address ends up in logs.
    feed_query_tokens: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecurityConfig:
        env = _environ(environ)
        mode = env.get("FLIGHTDECK_AUTH", AUTH_LOCAL).strip().lower() or AUTH_LOCAL
        if mode not in (AUTH_LOCAL, AUTH_HEADER):
            raise ValueError(f"FLIGHTDECK_AUTH must be {AUTH_LOCAL!r} or {AUTH_HEADER!r}, "
                             f"not {mode!r}")
        try:
            proxies = tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in env.get("FLIGHTDECK_TRUSTED_PROXIES", "").split(",") if part.strip()
            )
        except ValueError as problem:
            raise ValueError(f"FLIGHTDECK_TRUSTED_PROXIES: {problem}") from None
        if mode == AUTH_HEADER and not proxies:
            raise ValueError("FLIGHTDECK_AUTH=header needs FLIGHTDECK_TRUSTED_PROXIES: the "
                             "addresses of the sign-on proxy whose user header is trusted")
        return cls(
            mode=mode,
            trusted_proxies=proxies,
            user_header=env.get("FLIGHTDECK_USER_HEADER", "").strip() or cls.user_header,
            session_hours=_number(env, "FLIGHTDECK_SESSION_HOURS", cls.session_hours),
            idle_minutes=_number(env, "FLIGHTDECK_IDLE_MINUTES", cls.idle_minutes),
            secure_cookies=env.get("FLIGHTDECK_COOKIE_SECURE", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            secret_key=env.get("FLIGHTDECK_SECRET_KEY") or None,
            max_upload_mb=_whole_number(env, "FLIGHTDECK_MAX_UPLOAD_MB", cls.max_upload_mb,
                                        least=1),
            proxy_hops=_whole_number(env, "FLIGHTDECK_PROXY_HOPS", cls.proxy_hops, least=0),
            hosts=tuple(part.strip().lower() for part in env.get("FLIGHTDECK_HOSTS", "")
                        .split(",") if part.strip()),
            feed_query_tokens=_flag(env, "FLIGHTDECK_FEED_QUERY_TOKENS"),
        )

    def trusts(self, address: str | None) -> bool:
        """Is ``address`` one of the sign-on proxies (whose user header is honoured)?"""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _redis_url(env: Mapping[str, str]) -> str | None:
    """FLIGHTDECK_REDIS_URL: a redis://, rediss:// (TLS) or unix:// socket address."""
    url = env.get("FLIGHTDECK_REDIS_URL", "").strip()
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("FLIGHTDECK_REDIS_URL must be a redis://, rediss:// or unix:// "
                         f"address, not {url.split('://', 1)[0]!r}")
    return url or None


# --------------------------------------------------------------------------- mail

DEFAULT_MAIL_FROM = "NOM flight deck <flightdeck@localhost>"


@dataclass(frozen=True)
class MailConfig:
    """How subscribed board packs are sent (README: Subscriptions): through an SMTP
    relay, or written as .eml files to a folder instead (``mail_dir``). Neither set:
    nothing is sent."""

    smtp_host: str | None = None  # FLIGHTDECK_SMTP_HOST
    smtp_port: int = 25  # FLIGHTDECK_SMTP_PORT
    mail_from: str = DEFAULT_MAIL_FROM  # FLIGHTDECK_MAIL_FROM
    starttls: bool = False  # FLIGHTDECK_SMTP_STARTTLS=1: upgrade the connection first
    smtp_user: str | None = None  # FLIGHTDECK_SMTP_USER (with FLIGHTDECK_SMTP_PASSWORD)
    smtp_password: str | None = field(default=None, repr=False)  # FLIGHTDECK_SMTP_PASSWORD
    # FLIGHTDECK_MAIL_DIR: write each message to this folder as a .eml file, not send it.
    mail_dir: Path | None = None

    @property
    def configured(self) -> bool:
        return bool(self.smtp_host or self.mail_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MailConfig:
        env = _environ(environ)
        host = env.get("FLIGHTDECK_SMTP_HOST", "").strip() or None
        sender = env.get("FLIGHTDECK_MAIL_FROM", "").strip()
        user = env.get("FLIGHTDECK_SMTP_USER", "").strip() or None
        password = env.get("FLIGHTDECK_SMTP_PASSWORD") or None
        folder = env.get("FLIGHTDECK_MAIL_DIR", "").strip()
        if host and not sender:
            raise ValueError("FLIGHTDECK_SMTP_HOST needs FLIGHTDECK_MAIL_FROM: the address "
                             "board packs are sent from")
        if user and not password:
            raise ValueError("FLIGHTDECK_SMTP_USER needs FLIGHTDECK_SMTP_PASSWORD")
        if any(c in sender for c in "\r\n"):
            raise ValueError("FLIGHTDECK_MAIL_FROM must be one line")
        return cls(
            smtp_host=host,
            smtp_port=_whole_number(env, "FLIGHTDECK_SMTP_PORT", cls.smtp_port, least=1),
            mail_from=sender or cls.mail_from,
            starttls=_flag(env, "FLIGHTDECK_SMTP_STARTTLS"),
            smtp_user=user,
            smtp_password=password,
            mail_dir=_path(folder) if folder else None,
        )


def is_loopback(host: str) -> bool:
    """Does binding to (or a request from) ``host`` stay on this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    """Everything the flight deck takes from its environment (README: Settings).

    Build it with :meth:`from_env`; a test builds it from a plain dict, so what it
    runs with does not depend on the shell it was started from.
    """

    db_path: Location  # --db, else FLIGHTDECK_DB, else data/flightdeck.duckdb
    # FLIGHTDECK_SECURITY_DB, else <db>-security.duckdb beside a file, else the same
    # PostgreSQL database.
    security_db_path: Location
    security: SecurityConfig  # sign-in and HTTP limits: FLIGHTDECK_AUTH and the rest
    # FLIGHTDECK_STATE_DIR: uploads waiting to be loaded and board pack jobs (default:
    # beside a DuckDB file; data/ with PostgreSQL, where every server must share one).
    state_dir: Path = DATA_DIR
    host: str = "127.0.0.1"  # FLIGHTDECK_HOST: where python app.py / flightdeck serve listen
    port: int = 8050  # FLIGHTDECK_PORT
    bind: str = "127.0.0.1:8050"  # FLIGHTDECK_BIND: gunicorn's address
    workers: int = 2  # FLIGHTDECK_WORKERS: gunicorn worker processes
    threads: int = 4  # FLIGHTDECK_THREADS: threads per gunicorn worker
    access_log: str | None = None  # FLIGHTDECK_ACCESS_LOG: gunicorn's access log ("-": stderr)
    chromium: str = DEFAULT_CHROMIUM  # FLIGHTDECK_CHROMIUM, else BROWSER_PATH
    # Subscribed board packs by email: FLIGHTDECK_SMTP_HOST, FLIGHTDECK_MAIL_DIR and the rest.
    mail: MailConfig = field(default_factory=MailConfig)
    # FLIGHTDECK_REDIS_URL: the national mode's broker. Set, board packs are sent to the
    # Celery workers (`flightdeck worker`) through it and no web process draws one. Kept
    # out of repr: the URL may hold Redis's password.
    redis_url: str | None = field(default=None, repr=False)
    # FLIGHTDECK_AUDIT_RETENTION_DAYS: `flightdeck audit --prune` deletes audit events
    # older than this many days (0, the default: keep every event).
    audit_retention_days: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 db: str | os.PathLike[str] | None = None) -> Settings:
        """The settings in ``environ`` (default: the process environment).

        An explicit ``db`` (the CLI's ``--db``) beats ``FLIGHTDECK_DB``, which beats
        ``data/flightdeck.duckdb``. A value that cannot be used raises ValueError
        naming the variable.
        """
        env = _environ(environ)
        db_path = resolve_db_path(db, env)
        security = SecurityConfig.from_env(env)
        if is_database_url(db_path) and not security.secret_key:
            raise ValueError("FLIGHTDECK_SECRET_KEY must be set when FLIGHTDECK_DB is a "
                             "PostgreSQL database: every server must sign sessions with the "
                             "same key (a long random value, e.g. from `python -c \"import "
                             "secrets; print(secrets.token_urlsafe(48))\"`)")
        return cls(
            db_path=db_path,
            security_db_path=resolve_security_db_path(db_path, env),
            security=security,
            state_dir=state_dir(db_path, env),
            host=env.get("FLIGHTDECK_HOST", "").strip() or cls.host,
            port=_whole_number(env, "FLIGHTDECK_PORT", cls.port),
            bind=env.get("FLIGHTDECK_BIND", "").strip() or cls.bind,
            workers=_whole_number(env, "FLIGHTDECK_WORKERS", cls.workers, least=1),
            threads=_whole_number(env, "FLIGHTDECK_THREADS", cls.threads, least=1),
            access_log=env.get("FLIGHTDECK_ACCESS_LOG") or None,
            chromium=chromium_path(env),
            mail=MailConfig.from_env(env),
            redis_url=_redis_url(env),
            audit_retention_days=_whole_number(env, "FLIGHTDECK_AUDIT_RETENTION_DAYS",
                                               cls.audit_retention_days, least=0),
        )

    @property
    def national(self) -> bool:
        """Whether the data is in a shared PostgreSQL database (several servers)."""
        return is_database_url(self.db_path)

    @property
    def secret_key_path(self) -> Path:
        """Where the generated key that signs session cookies is kept: beside the
        database it serves (unused when FLIGHTDECK_SECRET_KEY gives one, as it must on
        PostgreSQL: every server must sign with the same key)."""
        return self.state_dir / SECRET_FILE_NAME


#: Files this program creates are readable by its own account only (0600, folders
#: 0700): databases, the users file, uploads waiting to be checked, packs.
PRIVATE_UMASK = 0o077


def keep_files_private() -> None:
    """Make every file and folder this process creates from now on private to its
    account, whatever the umask it was started with (the app and the CLI call it)."""
    os.umask(PRIVATE_UMASK)


def one_blas_thread() -> None:
    """Before numpy is first imported: OpenBLAS on one thread (unless set otherwise).

    The engine's matrix products are tiny (areas x forces); OpenBLAS's threads spin
    between them and take the core that DuckDB writes the CSV on meanwhile
    (``flightdeck kpis``, bench/bench_cli.py: some 0.1 s of CPU). Only when numpy has
    not been imported yet (a process of the command line's own, not a test's), so
    nothing already running is changed. (Here: the one module that touches the
    environment.)
    """
    import sys

    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

