"""Where things live: the project's data folder and the DuckDB file.

The database path is, in order of precedence: an explicit path (the CLI's ``--db``),
the ``FLIGHTDECK_DB`` environment variable, then ``data/flightdeck.duckdb``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_DB_PATH = DATA_DIR / "flightdeck.duckdb"
FORCES_CSV = DATA_DIR / "forces.csv"
CATALOGUE_FILE = DATA_DIR / "catalogue.yaml"
DB_ENV_VAR = "FLIGHTDECK_DB"

NATIONAL_SLUG = "england-and-wales"
NATIONAL_NAME = "England and Wales"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The DuckDB file to use: ``explicit`` if given, else $FLIGHTDECK_DB, else the default."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    from_env = os.environ.get(DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser().resolve()
    return DEFAULT_DB_PATH


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
    max_upload_mb: int = 20  # FLIGHTDECK_MAX_UPLOAD_MB: largest file the upload takes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecurityConfig:
        env = os.environ if environ is None else environ
        mode = env.get("FLIGHTDECK_AUTH", AUTH_LOCAL).strip().lower() or AUTH_LOCAL
        if mode not in (AUTH_LOCAL, AUTH_HEADER):
            raise ValueError(f"FLIGHTDECK_AUTH must be {AUTH_LOCAL!r} or {AUTH_HEADER!r}, "
                             f"not {mode!r}")
        proxies = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in env.get("FLIGHTDECK_TRUSTED_PROXIES", "").split(",") if part.strip()
        )
        if mode == AUTH_HEADER and not proxies:
            raise ValueError("FLIGHTDECK_AUTH=header needs FLIGHTDECK_TRUSTED_PROXIES: the "
                             "addresses of the sign-on proxy whose user header is trusted")
        return cls(
            mode=mode,
            trusted_proxies=proxies,
            user_header=env.get("FLIGHTDECK_USER_HEADER", cls.user_header),
            session_hours=float(env.get("FLIGHTDECK_SESSION_HOURS", cls.session_hours)),
            idle_minutes=float(env.get("FLIGHTDECK_IDLE_MINUTES", cls.idle_minutes)),
            secure_cookies=env.get("FLIGHTDECK_COOKIE_SECURE", "1") not in ("0", "false", "no"),
            secret_key=env.get("FLIGHTDECK_SECRET_KEY") or None,
            max_upload_mb=int(env.get("FLIGHTDECK_MAX_UPLOAD_MB", cls.max_upload_mb)),
        )

    def trusts(self, address: str | None) -> bool:
        """Is ``address`` one of the sign-on proxies (whose user header is honoured)?"""
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)


def is_loopback(host: str) -> bool:
    """Does binding to (or a request from) ``host`` stay on this machine?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
