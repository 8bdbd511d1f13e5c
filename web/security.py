"""Sign-in, sessions and HTTP hardening for the web app (Flask level, before Dash).

Every request passes ``_authenticate`` first, so no route — pages, ``/_dash-layout``,
``/_dash-update-component``, downloads, exports, the upload — answers without a
signed-in user, except the login page itself and the static CSS. The principal found
is put on ``flask.g``; ``web.context.service()`` hands pages and callbacks the
service *as that principal*, which is where force scoping and roles are enforced.

Three ways in:

* **local accounts** (``flightdeck users ...``, or the Accounts page): the login page
  checks the password and Flask-Login keeps the user in a signed, HttpOnly, SameSite
  session cookie, with an absolute and an idle expiry; failed sign-ins are throttled; a
  disabled account is refused, and one whose password an administrator set chooses its
  own (``PASSWORD_PATH``) before it is signed in;
* **trusted header**: behind a single sign-on proxy, the proxy's user header, honoured
  only from the configured proxy addresses;
* **unsecured demonstration**: with no users configured, the app answers only
  requests from this machine and says so on every page.

The data feeds (``/feeds/``, :mod:`web.feeds`) take neither a session nor the proxy's
header: Power BI and Excel cannot sign in on a form, so each request brings an
account's API token (``Authorization: Bearer ...``; ``?token=`` only where
``FLIGHTDECK_FEED_QUERY_TOKENS`` allows it), and acts as that account as it is now.
In the unsecured demonstration they answer this machine without one, as every page does.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import os
import secrets
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import dash
import flask
import flask_login
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from kpis.domain.access import Principal, demo_principal
from kpis.settings import AUTH_HEADER, SecurityConfig, is_loopback
from kpis.storage import security
from kpis.storage.security import SecurityStore, User

LOG = logging.getLogger(__name__)

PRINCIPAL_KEY = "principal"
# Keys of the Flask config (not environment variables: those are read by kpis.settings).
STORE_KEY = "FLIGHTDECK_SECURITY_STORE"  # the users file's SecurityStore
CONFIG_KEY = "FLIGHTDECK_SECURITY"  # the SecurityConfig (layouts/upload.py reads its limit)
DASH_KEY = "FLIGHTDECK_DASH"  # the Dash app, whose inline scripts the CSP allows by hash
SESSION_COOKIE = "flightdeck_session"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
# Where an account whose password an administrator set (a reset, or a new account)
# chooses its own before it is signed in; reached only from a right sign-in.
PASSWORD_PATH = "/login/password"
PASSWORD_CHANGE_SECONDS = 600  # how long the choose-a-password form stays valid
# Reachable without signing in: the login page, the favicon and the stylesheets and
# fonts it uses (exact paths, and one folder whose files are static).
PUBLIC_PREFIXES = ("/assets/",)
PUBLIC_PATHS = (LOGIN_PATH, PASSWORD_PATH, "/_favicon.ico", "/favicon.ico")
# The names this machine answers to: all the unsecured demonstration answers to, so a
# page of another site that points its own name at 127.0.0.1 (DNS rebinding) is refused.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
STARTED_SECURED_KEY = "FLIGHTDECK_STARTED_SECURED"  # the mode fixed at start
GATE_KEY = "FLIGHTDECK_SIGN_IN_GATE"  # this app's _SignInGate
ALLOWED_METHODS = ("GET", "HEAD", "POST")  # all any page, callback or route uses
# Password checks at once per server process (each Argon2 check takes 64 MiB), and how
# long a sign-in waits for its turn before being told the server is busy.
MAX_PASSWORD_CHECKS = 2
PASSWORD_CHECK_WAIT = 10.0
# One audit line a minute per user name and address for attempts the throttle refuses.
THROTTLE_REPORT_SECONDS = 60.0
MAX_THROTTLE_KEYS = 10_000
# Requests a browser makes for a page (redirected to sign in) rather than for data
# (refused with 401): Dash's own endpoints all start with an underscore.
API_PREFIXES = ("/_dash", "/_reload", "/download", "/export", "/upload/batch")
# The data feeds: authorised by an API token on each request, never by a session.
FEED_PREFIX = "/feeds/"
TOKEN_KEY = "api_token"  # flask.g: the token a feed request came with
TOKEN_GATE_KEY = "FLIGHTDECK_TOKEN_GATE"  # this app's _TokenGate
BEARER_CHALLENGE = 'Bearer realm="NOM flight deck feeds"'
# The most any request but a file upload may send.
REQUEST_LIMIT = 4 * 1024 * 1024


def install(app: dash.Dash, config: SecurityConfig, key_file: Path) -> None:
    """Protect every route of ``app`` and add the login and sign-out routes.

    The users file is the one under ``STORE_KEY`` in the server's config (set with the
    database); the key that signs cookies is ``config.secret_key`` if set, else the one
    kept in ``key_file`` (made on first use: ``Settings.secret_key_path``, beside the
    database).
    """
    server = app.server
    server.secret_key = config.secret_key or _secret_key(key_file)
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=config.idle_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        REMEMBER_COOKIE_DURATION=dt.timedelta(0),
        # Pages and callbacks send little; the upload route (web.uploads) streams
        # files to disk under its own limit, FLIGHTDECK_MAX_UPLOAD_MB.
        MAX_CONTENT_LENGTH=REQUEST_LIMIT,
        **{CONFIG_KEY: config, DASH_KEY: app},
    )
    manager = flask_login.LoginManager()
    manager.session_protection = "strong"  # a session copied to another browser dies
    manager.init_app(server)

    @manager.user_loader
    def load_user(session_id: str) -> _SessionUser | None:
        username, _, token = session_id.rpartition(":")
        user = _store().user(username)
        if (user is None or user.disabled
                or not secrets.compare_digest(user.session_token, token)):
            return None  # removed, disabled, or password/role changed since: sign in again
        return _SessionUser(user)

    # First of all before-request functions: Dash's own (which builds the layout on
    # the first request) must not run for someone who has not signed in.
    server.before_request_funcs.setdefault(None, []).insert(0, _authenticate)
    server.after_request(_harden)
    server.register_error_handler(Exception, _no_stack_trace)
    server.register_error_handler(413, _too_large)
    # The security mode is fixed now: accounts added or removed while the server runs
    # never switch it (a server started with accounts never opens up when the last is
    # removed). The users file is opened and closed again (before any fork).
    starting = SecurityStore(server.config[STORE_KEY].path)
    try:
        server.config[STARTED_SECURED_KEY] = config.mode == AUTH_HEADER or starting.has_users()
    finally:
        starting.close()
    server.config[GATE_KEY] = _SignInGate()
    server.config[TOKEN_GATE_KEY] = _TokenGate()
    if config.proxy_hops:
        server.wsgi_app = _BehindProxies(server.wsgi_app, config)  # type: ignore[method-assign]
    server.add_url_rule(LOGIN_PATH, "login", _login, methods=["GET", "POST"])
    server.add_url_rule(LOGOUT_PATH, "logout", _logout, methods=["POST"])
    server.add_url_rule(PASSWORD_PATH, "choose_password", _choose_password, methods=["POST"])


class _SessionUser(flask_login.UserMixin):
    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        # The token changes with the password, role or scope, ending older sessions.
        return f"{self.user.username}:{self.user.session_token}"


def _config() -> SecurityConfig:
    return flask.current_app.config[CONFIG_KEY]


def _store() -> SecurityStore:
    return flask.current_app.config[STORE_KEY]


def _gate() -> _SignInGate:
    return flask.current_app.config[GATE_KEY]


def demo_mode() -> bool:
    """Started with no accounts configured: the unsecured local demonstration."""
    return not flask.current_app.config[STARTED_SECURED_KEY]


def _mode_changed() -> flask.Response | None:
    """Refuse everything once the accounts no longer match the mode the server started
    in: it must be restarted to take the new mode."""
    if _config().mode == AUTH_HEADER:
        return None
    has_users = _store().has_users()
    if demo_mode() and has_users:
        return plain_response(503, "Accounts have been set up since this unsecured "
                              "demonstration started: restart the server to require "
                              "sign-in.")
    if not demo_mode() and not has_users:
        return plain_response(503, "There are no accounts any more: the server refuses "
                              "every request until an account is added and it is "
                              "restarted.")
    return None


def _trusted_host() -> bool:
    """Is the request's Host one this server answers to?"""
    request = flask.request
    host = (request.headers.get("Host") or "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    allowed = LOOPBACK_HOSTS if demo_mode() else _config().hosts
    return not allowed or name in allowed


# --------------------------------------------------------------------------- the gate


def _authenticate() -> flask.Response | None:
    request = flask.request
    path = request.path
    if not _trusted_host():
        return plain_response(400, "This server does not answer to that address.")
    if request.method not in ALLOWED_METHODS:
        # Dash's catch-all page route would otherwise answer OPTIONS on any path.
        response = plain_response(405, "This server takes GET and POST requests only.")
        response.headers["Allow"] = ", ".join(ALLOWED_METHODS)
        return response
    if request.method == "POST" and not _same_origin():
        return plain_response(403, "This request came from another site and was refused.")
    if path in PUBLIC_PATHS or (path.startswith(PUBLIC_PREFIXES) and ".." not in path):
        return None
    changed = _mode_changed()
    if changed is not None:
        return changed
    config = _config()
    if path.startswith(FEED_PREFIX) and not demo_mode():
        return _from_token(config)
    if config.mode == AUTH_HEADER:
        principal = _from_proxy_header(config)
        if principal is None:
            return plain_response(401, "Sign in through your organisation's single sign-on.")
    elif demo_mode():
        if not is_loopback(request.remote_addr or ""):
            return plain_response(403, "This is an unsecured demonstration: it answers only on "
                                "this computer. Ask your administrator to set up accounts.")
        principal = demo_principal()
    else:
        principal = _from_session(config)
        if principal is None:
            if path.startswith(API_PREFIXES) or request.method != "GET":
                return plain_response(
                    401, "You are not signed in, or your session has ended: sign in.")
            # The whole address, query string included, as one encoded value: a deep
            # link keeps its period and comparator through the sign-in.
            return flask.redirect(
                f"{LOGIN_PATH}?{urlencode({'next': _safe_next(request.full_path)})}")
    flask.g.principal = principal
    return None


def _token_refused(status: int, message: str) -> flask.Response:
    response = plain_response(status, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = BEARER_CHALLENGE
    return response


def _from_token(config: SecurityConfig) -> flask.Response | None:
    """Authorise a feed request by its API token: the principal is the token's account
    as it is now (its role and scope), or the request is refused (401, 403, 429)."""
    request = flask.request
    scheme, _, secret = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        secret = ""
    in_query = request.args.get("token")
    if not secret and in_query is not None:
        if not config.feed_query_tokens:
            return _token_refused(401, "Send the API token in the Authorization header "
                                  "(Bearer): this server does not take tokens in the "
                                  "address.")
        secret = in_query
    secret = secret.strip()
    if not secret:
        return _token_refused(401, "A data feed needs an API token: make one on the Data "
                              "feeds page and send it as 'Authorization: Bearer TOKEN'.")
    address = request.remote_addr or ""
    gate: _TokenGate = flask.current_app.config[TOKEN_GATE_KEY]
    if gate.throttled(address):
        _report_refused_tokens(gate, address)
        return plain_response(429, "Too many requests with a wrong API token from this "
                              "address: wait 15 minutes.")
    found = _store().token_for(secret)
    if found is None:
        gate.failed(address)
        _report_refused_tokens(gate, address)
        return _token_refused(401, "That API token is not known, or has been revoked.")
    token, user = found
    refusal = security.token_refusal(user)
    if refusal:
        _audit(security.FEED_REFUSED, user.username, f"token {token.token_id}: {refusal}")
        return plain_response(403, f"This token's account may not use the feeds: {refusal}.")
    flask.g.principal = user.principal()
    setattr(flask.g, TOKEN_KEY, token)
    return None


def _report_refused_tokens(gate: _TokenGate, address: str) -> None:
    refused = gate.refused_to_report(address)
    if refused:
        _audit(security.FEED_REFUSED, "(unknown)", f"{refused} request(s) with an unknown, "
               "revoked or malformed API token")


def _from_session(config: SecurityConfig) -> Principal | None:
    user = flask_login.current_user
    if not user.is_authenticated:
        return None
    signed_in = flask.session.get("signed_in_at", 0)
    if time.time() - signed_in > config.session_hours * 3600:
        flask_login.logout_user()
        flask.session.clear()
        return None
    return user.user.principal()


class _BehindProxies:
    """Take the client's address and scheme from the proxies' X-Forwarded-For and
    X-Forwarded-Proto (werkzeug's ProxyFix, ``FLIGHTDECK_PROXY_HOPS`` of them), so the
    sign-in throttle and the audit log see the client, not the proxy. With
    ``FLIGHTDECK_TRUSTED_PROXIES`` set, only requests from those addresses are read so;
    anyone else's forwarded headers are ignored."""

    def __init__(self, app: Any, config: SecurityConfig) -> None:
        self.direct = app
        self.proxied = ProxyFix(app, x_for=config.proxy_hops, x_proto=config.proxy_hops)
        self.config = config

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        peer = environ.get("REMOTE_ADDR")
        if self.config.trusted_proxies and not self.config.trusts(peer):
            return self.direct(environ, start_response)
        return self.proxied(environ, start_response)


def _peer_address() -> str:
    """The address that connected: the proxy's, behind proxies."""
    original = flask.request.environ.get("werkzeug.proxy_fix.orig", {})
    return original.get("REMOTE_ADDR") or flask.request.remote_addr or ""


def _from_proxy_header(config: SecurityConfig) -> Principal | None:
    request = flask.request
    if not config.trusts(_peer_address()):
        return None  # anyone can send the header: only the proxy's is believed
    username = (request.headers.get(config.user_header) or "").strip()
    user = _store().user(username) if username else None
    if user is None or user.disabled:
        if username:
            _audit(security.ACCESS_DENIED, username, "signed on but has no account here"
                   if user is None else f"signed on, but {security.DISABLED_REFUSAL}")
        return None
    if flask.session.get("proxy_user") != username:
        # One audit entry per browser session, not one per request.
        flask.session.clear()
        flask.session["proxy_user"] = username
        flask.session.permanent = True
        _audit(security.SIGN_IN, username, "through the single sign-on proxy")
    return user.principal()


def _same_origin() -> bool:
    """A POST's Origin (when the browser sends one) must be this site: no cross-site forms."""
    origin = flask.request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == flask.request.host


def plain_response(status: int, message: str) -> flask.Response:
    """One plain sentence for the user, with ``status``."""
    response = flask.make_response(message, status)
    response.mimetype = "text/plain"
    return response


def _audit(event: str, username: str, detail: str = "") -> None:
    try:
        _store().record(event, username, detail, flask.request.remote_addr or "")
    except Exception:  # the audit must not turn a sign-in into a crash; the log says why
        LOG.exception("could not write the audit event %s for %s", event, username)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host): never an open redirect."""
    target = (target or "/").rstrip("?")
    parts = urlsplit(target)
    # Browsers read a backslash as a slash: "/\\host" would leave the site too.
    if (parts.scheme or parts.netloc or not target.startswith("/")
            or target.startswith(("//", LOGIN_PATH)) or "\\" in target):
        return "/"
    return target


# --------------------------------------------------------------------------- login page


def _login() -> flask.Response | str:
    if _config().mode == AUTH_HEADER:
        return plain_response(404, "Sign in through your organisation's single sign-on.")
    request = flask.request
    next_path = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(next_path)
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    token = flask.session.get("csrf")
    if not token or not secrets.compare_digest(token, request.form.get("csrf", "")):
        return _login_page(next_path, "The form had expired. Please sign in again.", 400)
    store, address = _store(), request.remote_addr or ""
    if not _gate().admit(store, username, address):
        refused = _gate().refused_to_report(username, address)
        if refused:
            _audit(security.SIGN_IN_THROTTLED, username, f"{refused} attempt(s) refused")
        minutes = int(security.THROTTLE_WINDOW.total_seconds() // 60)
        return _login_page(next_path, "Too many failed sign-ins. Wait "
                           f"{minutes} minutes and try again, or ask an administrator.", 429)
    try:
        if not _gate().checks.acquire(timeout=PASSWORD_CHECK_WAIT):
            return _login_page(next_path, "The server is busy checking other sign-ins. "
                               "Try again in a moment.", 503)
        try:
            user, refusal = store.check_sign_in(username, password)
        finally:
            _gate().checks.release()
        if user is None:
            _audit(security.SIGN_IN_FAILED, username or "(blank)", refusal)
            if refusal:  # the password was right: its holder may know why
                return _login_page(next_path, "This account has been disabled. Ask an "
                                   "administrator to enable it.", 403)
            return _login_page(next_path, "The user name or password is not right.", 401)
    finally:
        # Recorded (or signed in) now: the attempt no longer counts as pending.
        _gate().done(username, address)
    if user.must_change_password:
        # An administrator's password: the account chooses its own before signing in.
        flask.session.clear()
        flask.session["password_change"] = [user.username, user.session_token, time.time()]
        return _password_page(next_path)
    return _signed_in(user, next_path)


def _signed_in(user: User, next_path: str, detail: str = "") -> flask.Response:
    flask.session.clear()  # a fresh session: nothing from before the sign-in survives
    flask_login.login_user(_SessionUser(user))
    flask.session.permanent = True
    flask.session["signed_in_at"] = time.time()
    _audit(security.SIGN_IN, user.username, detail)
    return flask.redirect(next_path)


def _choose_password() -> flask.Response | str:
    """The form after a right sign-in with an administrator's password: the account's
    own password replaces it (the strength rules apply, and it must differ), then the
    account is signed in. Only the browser that signed in, within the time allowed."""
    if _config().mode == AUTH_HEADER:
        return plain_response(404, "Sign in through your organisation's single sign-on.")
    request = flask.request
    next_path = _safe_next(request.form.get("next"))
    token = flask.session.get("csrf")
    if not token or not secrets.compare_digest(token, request.form.get("csrf", "")):
        return _login_page(next_path, "The form had expired. Please sign in again.", 400)
    pending = flask.session.get("password_change")
    store = _store()
    user = None
    if isinstance(pending, list) and len(pending) == 3 and isinstance(pending[0], str) \
            and time.time() - float(pending[2]) <= PASSWORD_CHANGE_SECONDS:
        user = store.user(pending[0])
    if (user is None or user.disabled or not user.must_change_password
            or not secrets.compare_digest(user.session_token, str(pending[1]))):
        flask.session.pop("password_change", None)
        return _login_page(next_path, "Sign in again with the password your administrator "
                           "gave you.", 400)
    new = request.form.get("new_password") or ""
    if new != (request.form.get("new_password_again") or ""):
        return _password_page(next_path, "The two passwords differ.", 400)
    if not _gate().checks.acquire(timeout=PASSWORD_CHECK_WAIT):
        return _password_page(next_path, "The server is busy checking other sign-ins. "
                              "Try again in a moment.", 503)
    try:
        same = store.authenticate(user.username, new) is not None
    finally:
        _gate().checks.release()
    if same:
        return _password_page(next_path, "Choose a password of your own, not the one your "
                              "administrator gave you.", 400)
    try:
        store.set_password(user.username, new, actor=user.username,
                           address=request.remote_addr or "",
                           detail=f"{user.username}: chosen at sign-in, replacing an "
                                  "administrator's password")
    except security.UserError as problem:
        return _password_page(next_path, str(problem), 400)
    fresh = store.user(user.username)
    assert fresh is not None
    return _signed_in(fresh, next_path, "after choosing a new password")


class _SignInGate:
    """The sign-in throttle, made atomic, and the bound on password checks.

    Checking the throttle and counting the attempt happen under one lock, and an
    attempt counts as a failure from then until it is recorded: forty simultaneous
    wrong passwords for one account are checked five times, not forty. Password checks
    (Argon2, 64 MiB each) run at most ``MAX_PASSWORD_CHECKS`` at a time per server
    process, so a burst of sign-ins cannot run the server out of memory. Attempts the
    throttle refuses are written to the audit log as one line a minute per user name
    and address ("N attempt(s) refused"), not a write each. All of this is per server
    process: with W workers at most W times the limit get checked in a race.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: collections.Counter[str] = collections.Counter()
        self.checks = threading.BoundedSemaphore(MAX_PASSWORD_CHECKS)
        # (user name, address) -> [time of the last audit line, attempts refused since]
        self._refused: collections.OrderedDict[tuple[str, str], list[float]] = (
            collections.OrderedDict())

    def admit(self, store: SecurityStore, username: str, address: str) -> bool:
        user, place = f"u:{username}", f"a:{address}"
        with self._lock:
            if store.throttled(username, address,
                               pending=(self._pending[user], self._pending[place])):
                refused = self._refused.setdefault((username, address), [0.0, 0])
                refused[1] += 1
                self._refused.move_to_end((username, address))
                while len(self._refused) > MAX_THROTTLE_KEYS:
                    self._refused.popitem(last=False)
                return False
            self._pending[user] += 1
            self._pending[place] += 1
            return True

    def done(self, username: str, address: str) -> None:
        with self._lock:
            for key in (f"u:{username}", f"a:{address}"):
                self._pending[key] -= 1
                if self._pending[key] <= 0:
                    del self._pending[key]

    def refused_to_report(self, username: str, address: str) -> int:
        """The attempts refused since the last audit line, if a line is due now (the
        caller writes it); 0 if not."""
        with self._lock:
            refused = self._refused.setdefault((username, address), [0.0, 0])
            if time.time() - refused[0] < THROTTLE_REPORT_SECONDS:
                return 0
            count, refused[0], refused[1] = int(refused[1]), time.time(), 0
            return count


class _TokenGate:
    """Feed requests with a wrong token, counted per address for the throttle's window:
    after ``MAX_FAILURES_PER_ADDRESS`` the address is refused (429) without a look-up
    until the window has passed. Tokens are 256 bits, never guessed: this keeps a
    misconfigured or hostile client from costing a look-up and an audit write a request.
    The failures are audited as one line a minute per address ("N request(s) ..."), like
    throttled sign-ins. Per server process, bounded in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # address -> times of failures in the window
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict())
        # address -> [time of the last audit line, failures since]
        self._refused: collections.OrderedDict[str, list[float]] = collections.OrderedDict()

    def _recent(self, address: str, now: float) -> collections.deque[float]:
        times = self._failures.setdefault(address, collections.deque())
        window = security.THROTTLE_WINDOW.total_seconds()
        while times and now - times[0] > window:
            times.popleft()
        return times

    def throttled(self, address: str) -> bool:
        with self._lock:
            if address not in self._failures:
                return False
            times = self._recent(address, time.time())
            if len(times) < security.MAX_FAILURES_PER_ADDRESS:
                return False
            self._count(address)
            return True

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address, time.time()).append(time.time())
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_THROTTLE_KEYS:
                self._failures.popitem(last=False)
            self._count(address)

    def _count(self, address: str) -> None:
        refused = self._refused.setdefault(address, [0.0, 0])
        refused[1] += 1
        self._refused.move_to_end(address)
        while len(self._refused) > MAX_THROTTLE_KEYS:
            self._refused.popitem(last=False)

    def refused_to_report(self, address: str) -> int:
        """The failures since the last audit line, if a line is due now; 0 if not."""
        with self._lock:
            refused = self._refused.setdefault(address, [0.0, 0])
            if not refused[1] or time.time() - refused[0] < THROTTLE_REPORT_SECONDS:
                return 0
            count, refused[0], refused[1] = int(refused[1]), time.time(), 0
            return count


def _logout() -> flask.Response:
    principal = flask.g.get(PRINCIPAL_KEY)
    if principal is not None and not principal.demo and _config().mode != AUTH_HEADER:
        _store().sign_out(principal.username, flask.request.remote_addr or "")
    flask_login.logout_user()
    flask.session.clear()
    response = flask.redirect(LOGIN_PATH)
    response.delete_cookie(SESSION_COOKIE)
    return response


# The sign-in page: a Jinja template rendered with autoescaping (every value put in it
# is escaped), kept as HTML beside this module.
LOGIN_TEMPLATE = (Path(__file__).parent / "templates" / "sign_in.html").read_text(
    encoding="utf-8")


PASSWORD_TEMPLATE = (Path(__file__).parent / "templates" / "choose_password.html").read_text(
    encoding="utf-8")


def _password_page(next_path: str, message: str = "", status: int = 200) -> flask.Response:
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(24))
    body = flask.render_template_string(
        PASSWORD_TEMPLATE, csrf=token, next_path=next_path, message=message,
        action=PASSWORD_PATH, min_length=security.MIN_PASSWORD_LENGTH)
    return flask.make_response(body, status)


def _login_page(next_path: str, message: str = "", status: int = 200) -> flask.Response:
    # One token per browser session (a second tab or a favicon fetch must not
    # invalidate the form already on screen); signing in starts a new session.
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(24))
    body = flask.render_template_string(
        LOGIN_TEMPLATE, csrf=token, next_path=next_path, message=message,
        username=(flask.request.form.get("username") or "")[:64])
    return flask.make_response(body, status)


# --------------------------------------------------------------------------- headers


def content_security_policy(script_hashes: list[str]) -> str:
    # script_hashes as ``dash.Dash.csp_hashes`` gives them, quoted: "'sha256-...'".
    """A policy the app works under: its own scripts and Dash's inline ones by hash.

    Styles allow 'unsafe-inline' because Plotly and React set element styles; sparkline
    images are data: URIs. Nothing is loaded from another site, and nobody may frame
    the app (clickjacking).
    """
    scripts = " ".join(script_hashes)  # Dash gives them quoted: 'sha256-...'
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {scripts}".strip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _harden(response: flask.Response) -> flask.Response:
    headers = response.headers
    dash_app = flask.current_app.config.get(DASH_KEY)
    if dash_app is not None:
        # Worked out per response: Dash adds inline scripts (its page router's
        # clientside callback) on the first page request, after the app is built.
        headers.setdefault("Content-Security-Policy",
                           content_security_policy(list(dash_app.csp_hashes())))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if _config().secure_cookies:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not flask.request.path.startswith(("/assets/", "/_dash-component-suites/")):
        # Figures about named forces must not linger in shared or browser caches.
        headers.setdefault("Cache-Control", "no-store")
    return response


def _no_stack_trace(error: Exception) -> flask.Response | HTTPException:
    """Any fault: a short message and a reference to the server log, never a trace."""
    if isinstance(error, HTTPException):
        return error
    reference = uuid.uuid4().hex[:8]
    LOG.exception("unhandled error %s on %s %s", reference, flask.request.method,
                  flask.request.path)
    return plain_response(500, f"Something went wrong on the server (reference {reference}). "
                        "Nothing was changed. Tell your analyst team if it keeps happening.")


def _too_large(_: Exception) -> flask.Response:
    limit = _config().max_upload_mb
    return plain_response(413, f"That is too much to send at once: files of up to {limit} MB "
                        "can be uploaded, from the Load data page.")


def _secret_key(path: Path) -> str:
    """The key that signs session cookies: generated once, kept private beside the data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: of two processes starting at once, one writes the key and both read it.
    with contextlib.suppress(FileExistsError), os.fdopen(
            os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
            encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()
