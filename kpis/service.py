"""The flight deck as a service: the current dataset, cached KPI tables, and every change.

The dashboard, the exports and the CLI all ask this object for numbers. It reloads
the dataset when a new version of the database is published (a load, a rollback, a
catalogue reload), so a running dashboard picks up new data without a restart, and
caches tables per data version so repeated views cost no recomputation.

Access control lives here, where the numbers come from, not in the pages:
``for_principal`` gives the service as one person may use it. A force-scoped user's
service hands out a dataset in which other forces' figures are blank (see
``Dataset.scoped``), so no page, callback, download or export can show them whatever
it asks for; and every change (loads, rollbacks, commentary, recommendation progress,
exports) checks the role and scope and is written to the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa

from kpis.cache import ALL_FORCES, VersionedCache
from kpis.domain.access import AccessDenied, Action, Principal, Role
from kpis.domain.catalogue import Catalogue, KpiDefinition
from kpis.domain.catalogue_edits import (
    edited_catalogue,
    latest_version,
    published_catalogue,
    version_changes,
)
from kpis.domain.catalogue_yaml import dump_catalogue
from kpis.domain.events import COMMENTARY_WRITTEN, PROGRESS_RECORDED
from kpis.engine.dataset import Dataset
from kpis.engine.measures import SpcOptions, cached_table
from kpis.exports.stored_kpi_csv import refresh_stored_csv
from kpis.ingest.adoption import AdoptionResult, load_adoption
from kpis.ingest.loader import (
    LoadResult,
    ParsedFile,
    Progress,
    check_files,
    load_files,
    quiet,
    rollback,
)
from kpis.ingest.populations import PopulationResult, load_populations
from kpis.ingest.preview import LoadPreview, preview_load
from kpis.ingest.problems import LoadRefused, Report
from kpis.settings import NATIONAL_NAME, NATIONAL_SLUG, Location, as_location, state_dir
from kpis.storage import annotations, reference, security
from kpis.storage.backend import Store, open_store, versions
from kpis.storage.catalogue_store import fetch_catalogue
from kpis.storage.database import write_catalogue
from kpis.storage.dataset_loader import load_dataset
from kpis.storage.security import SecurityStore, security_db_path

DEFAULT_SPC = SpcOptions()
# What a reference data load returns.
Loaded = TypeVar("Loaded", AdoptionResult, PopulationResult)

# Whoever uses the service from the command line or a script: every force, every
# action (they could open the database file anyway). The web app never uses it.
SYSTEM = Principal(username="system", role=Role.ADMIN, display_name="")


#: The memory the force-scoped datasets of one database may hold (as _scoped_weight
#: weighs them), and how many are kept whatever that says.
SCOPED_BYTES = 160 * 2**20
SCOPED_KEPT = 2


def _scoped_weight(ds: Dataset) -> int:
    """A scoped dataset's cube, and the KPI arrays it will hold once used."""
    return 16 * int(ds.cube.values.nbytes)


@dataclass
class _Shared:
    """What every principal's view of one database shares: the reader and the caches."""

    db_path: Location
    reader: Store
    security: SecurityStore
    state_dir: Path  # uploads waiting to be loaded, pack jobs (kpis.settings.state_dir)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dataset: Dataset | None = None
    identity: Hashable | None = None  # the store's identity when the versions were read
    annotations: str = "0"  # the annotation version then
    # Each force-scoped view of the current dataset, built once per data version. Each
    # copies the cube and, once used, holds every KPI's arrays for its scope (some 16
    # times the cube): bounded by that weight, always keeping the last few in use.
    scoped: VersionedCache[Dataset] = field(default_factory=lambda: VersionedCache(
        64, maxbytes=SCOPED_BYTES, sizeof=_scoped_weight, keep=SCOPED_KEPT))
    # Which (KPI, area, month) have commentary, per data and annotation version.
    commented: VersionedCache[frozenset[tuple[str, str, dt.date]] | None] = field(
        default_factory=lambda: VersionedCache(1))


class FlightDeckService:
    def __init__(self, db_path: Location, principal: Principal = SYSTEM, address: str = "",
                 _shared: _Shared | None = None, *,
                 security_path: Location | None = None,
                 state_folder: Path | None = None) -> None:
        """``db_path``: a DuckDB file or a PostgreSQL URL. ``security_path``: the users
        and audit log (default: the one for ``db_path``). ``state_folder``: where
        uploads and pack jobs wait (default: :func:`kpis.settings.state_dir`)."""
        db_path = as_location(db_path)
        self._shared = _shared or _Shared(
            db_path, open_store(db_path),
            SecurityStore(security_path or security_db_path(db_path)),
            state_folder or state_dir(db_path))
        # The database, its store and its users and audit file: the shared ones.
        self.db_path, self.reader, self.security = (
            self._shared.db_path, self._shared.reader, self._shared.security)
        self.state_dir = self._shared.state_dir
        self.principal = principal
        self.address = address  # the client's address, for the audit log

    def for_principal(self, principal: Principal, address: str = "") -> FlightDeckService:
        """The service as ``principal`` may use it (same data and caches, shared)."""
        return FlightDeckService(self.db_path, principal, address, self._shared)

    # ------------------------------------------------------------------ reading

    def dataset(self) -> Dataset:
        """The current data as this principal may see it (reloaded when it changes).

        When the store has changed, its versions are read (one query): the dataset is
        built again only if the data changed, not for commentary or recommendation
        progress (the annotation version, :attr:`annotation_version`)."""
        current = self._current()
        scope = self.principal.force
        if scope is None:
            return current
        return self._shared.scoped.get(current.data_version, scope, "dataset",
                                       lambda: current.scoped(scope))

    def _current(self) -> Dataset:
        shared = self._shared
        identity = shared.reader.identity
        with shared.lock:
            if shared.dataset is None or identity != shared.identity:
                with shared.reader.connect() as conn:
                    data, notes = versions(conn)
                    if shared.dataset is None or shared.dataset.data_version != data:
                        shared.dataset = load_dataset(conn)
                shared.identity, shared.annotations = identity, notes
            return shared.dataset

    @property
    def annotation_version(self) -> str:
        """The version of the commentary and recommendation progress, read with the
        versions when :meth:`dataset` last looked (call it first: no second look at the
        store): a page that shows them is cached under it too."""
        return self._shared.annotations

    def table(
        self,
        kpi_ids: Sequence[str] | None = None,
        areas: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        suppress: bool = False,
        peer_group: str | None = None,
        spc: SpcOptions | None = DEFAULT_SPC,
    ) -> pd.DataFrame:
        """``flight_deck_table`` for the current data, cached per data version and scope."""
        return cached_table(self.dataset(), kpi_ids, areas, start, end, suppress=suppress,
                            peer_group=peer_group, spc=spc)

    def commentary_for(self, kpi_id: str, area: str, period: dt.date | str
                       ) -> annotations.Commentary | None:
        ds = self.dataset()
        if not ds.visible(area):
            return None
        # A view with no commentary (most) asks the store nothing, where its two queries
        # cost a KPI page's first view some 6 ms (bench/bench_app.py).
        noted = self._commented(ds)
        if noted is not None and (kpi_id, area, annotations.month_of(period)) not in noted:
            return None
        return annotations.commentary_for(self.reader, kpi_id, area, period)

    def commented(self) -> frozenset[tuple[str, str, dt.date]] | None:
        """Every (KPI, area, month) with commentary (None: too many to keep), read once
        per data and annotation version (:func:`kpis.storage.annotations.commented`)."""
        return self._commented(self.dataset())

    def _commented(self, ds: Dataset) -> frozenset[tuple[str, str, dt.date]] | None:
        return self._shared.commented.get(
            f"{ds.data_version}/{self.annotation_version}", ALL_FORCES, "commented",
            lambda: annotations.commented(self.reader))

    def all_commentary(self, area: str, period: dt.date | str) -> dict[str, str]:
        if not self.dataset().visible(area):
            return {}
        return annotations.all_commentary(self.reader, area, period)

    def recommendation_status(self, today: dt.date | None = None, area: str | None = None
                              ) -> list[annotations.RecommendationStatus]:
        """Each recommendation's progress for ``area`` (a force, or england-and-wales for
        the national notes; None: the national notes), with the national note beside it.
        A force-scoped account may read its own force's and the national notes only."""
        scope = self.principal.force
        area = area or NATIONAL_SLUG
        if scope is not None and area not in (scope, NATIONAL_SLUG):
            raise self._denied(f"Your account is limited to {self._area_name(scope)}: you "
                               "cannot see recommendation progress for "
                               f"{self._area_name(area)}.")
        return annotations.recommendation_status(self.reader, today, area)

    # ------------------------------------------------------------------ access

    def require(self, action: Action, area: str | None = None) -> None:
        """Refuse (AccessDenied, audited) unless the principal may do ``action`` to ``area``."""
        try:
            self.principal.require(action)
            if area is not None and not self.dataset().visible(area):
                raise AccessDenied(f"Your account is limited to "
                                   f"{self._area_name(self.principal.force)}: you cannot "
                                   f"{action.value} for {self._area_name(area)}.")
        except AccessDenied as refusal:
            self.audit(security.ACCESS_DENIED, f"{action.value}: {refusal}")
            raise

    def may(self, action: Action) -> bool:
        return self.principal.may(action)

    def _area_name(self, area: str | None) -> str:
        try:
            return self.dataset().area_names.get(area or "", area or "")
        except Exception:  # the name is only for the message
            return area or ""

    def audit(self, event: str, detail: str = "") -> None:
        """Write an event to the audit log, as this principal from this address."""
        self.security.record(event, self.principal.username, detail, self.address)

    @contextlib.contextmanager
    def _audited(self, event: str) -> Iterator[Callable[[sa.Connection, str], None]]:
        """A hook for a write's transaction that records ``event`` in it, where the audit
        log is in the same database (PostgreSQL): the change and its audit row commit
        together. Elsewhere (a DuckDB users file) the row is recorded once the block
        has returned, that is once the change has been published."""
        pending: list[str] = []

        def hook(conn: sa.Connection, detail: str) -> None:
            if not self.security.record_with(conn, event, self.principal.username, detail,
                                             self.address):
                pending.append(detail)

        yield hook
        for detail in pending:
            self.audit(event, detail)

    # ------------------------------------------------------------------ changing

    def check_upload(self, files: Sequence[Path], kind: str | None = None,
                     progress: Progress = quiet) -> tuple[list[ParsedFile], Report]:
        """Validate files without writing: the loader's checks plus this user's scope
        (checked before the plausibility checks, whose warnings quote stored figures:
        a file with another force's figures gets none)."""
        return check_files(self.db_path, files, kind, progress=progress,
                           first=self._check_scope)

    def preview_load(self, files: Sequence[Path], kind: str | None = None,
                     progress: Progress = quiet) -> LoadPreview:
        """What loading ``files`` would change, writing nothing: :meth:`check_upload`'s
        report (this user's scope applied) and :func:`kpis.ingest.preview.preview_load`'s
        changed values and KPI states. A force-scoped user's files for another force are
        refused by the check, so the preview shows only figures they may see."""
        parsed, report = self.check_upload(files, kind, progress)
        current = None
        if not report.errors and self.reader.exists():
            progress("Working out what the load would change")
            scoped = self.dataset()
            current = scoped.source or scoped  # the load's forces are this user's own
        return preview_load(self.db_path, parsed, report, current)

    def load(self, files: Sequence[Path], kind: str | None = None,
             progress: Progress = quiet) -> LoadResult:
        """Load files (all or none) as this principal; audited whether it lands or not."""
        self.require(Action.LOAD)
        names = ", ".join(Path(f).name for f in files)
        try:
            if self.principal.force is not None:
                _, report = self.check_upload(files, kind, progress)
                if report.errors:
                    raise LoadRefused(report)
            with self._audited(security.LOAD) as audit:
                result = load_files(
                    self.db_path, files, kind, user=self.principal.label or None,
                    progress=progress, audit=lambda conn, result: audit(
                        conn, f"{names}: load id(s) {', '.join(map(str, result.load_ids))}, "
                              f"{result.observations} values"))
            self._keep_kpi_csv()
        except LoadRefused as refused:
            self.audit(security.LOAD_REFUSED,
                       f"{names}: {refused.report.error_count} error(s)")
            raise
        return result

    def _check_scope(self, parsed: Sequence[ParsedFile], report: Report) -> None:
        """A force-scoped analyst may load figures for their own force only."""
        scope = self.principal.force
        if scope is None:
            return
        for item in parsed:
            for other in sorted(set(item.observations["force_slug"].astype(str)) - {scope}):
                report.error(item.path.name, None, "force", other,
                             f"your account may load figures for {self._area_name(scope)} "
                             "only")

    def rollback(self, load_id: int) -> int:
        self.require(Action.LOAD)
        scope = self.principal.force
        # A scoped dataset lists only the loads that hold this force's figures alone.
        if scope is not None and load_id not in set(self.dataset().loads["load_id"]):
            raise self._denied(f"Load {load_id} holds figures for other forces than "
                               f"{self._area_name(scope)}: ask an analyst who covers "
                               "every force to roll it back.")
        with self._audited(security.ROLLBACK) as audit:
            changed = rollback(self.db_path, load_id, audit=lambda conn, changed: audit(
                conn, f"load {load_id}: {changed} values changed"))
        self._keep_kpi_csv()
        return changed

    def write_commentary(self, kpi_id: str, area: str, period: dt.date | str, text: str,
                         author: str = "") -> annotations.Commentary | None:
        """Commentary by this principal (a scoped analyst writes for their own force)."""
        self.require(Action.COMMENT, area)
        if self.principal.force is not None and area != self.principal.force:
            # Commentary on an aggregate speaks for every force in it: national work.
            raise self._denied(f"Your account may write commentary for "
                               f"{self._area_name(self.principal.force)} only.")
        signed = author if self.principal.demo else self.principal.label
        with self._audited(COMMENTARY_WRITTEN) as audit:
            annotations.write_commentary(self.db_path, kpi_id, area, period, text, signed,
                                         audit=audit)
        return annotations.commentary_for(self.reader, kpi_id, area, period)

    def record_progress(self, rec_id: str, status: str, note: str, author: str = "",
                        area: str = NATIONAL_SLUG) -> None:
        """Progress on an inspection recommendation for ``area``: a force-scoped analyst
        records for their own force only; national notes (england-and-wales) are kept
        by analysts who cover every force."""
        self.require(Action.TRACK)
        scope = self.principal.force
        if scope is not None and area != scope:
            if area == NATIONAL_SLUG:
                raise self._denied(f"Progress notes for {NATIONAL_NAME} are national: "
                                   "analysts who cover every force keep them; your account "
                                   f"may record progress for {self._area_name(scope)} only.")
            raise self._denied(f"Your account is limited to {self._area_name(scope)}: you "
                               "cannot record recommendation progress for "
                               f"{self._area_name(area)} ({area}).")
        signed = author if self.principal.demo else self.principal.label
        with self._audited(PROGRESS_RECORDED) as audit:
            annotations.record_progress(self.db_path, rec_id, status, note, signed, area=area,
                                        audit=audit)

    def authorise_export(self, what: str, area: str) -> None:
        """Check an export of ``area``'s figures is allowed, and audit it."""
        self.require(Action.EXPORT, area)
        self.audit(security.EXPORT, what)

    # ------------------------------------------------------------------ subscriptions

    def subscriptions(self) -> list[security.Subscription]:
        """This principal's own board pack subscriptions (none in the demonstration)."""
        if self.principal.demo:
            return []
        return self.security.subscriptions(self.principal.username)

    def subscribe(self, force: str, fmt: str, email: str | None = None
                  ) -> security.Subscription:
        """Subscribe this principal's account to ``force``'s monthly board pack, sent to
        ``email`` (else the account's address). A pack is an export: analysts and
        admins, a force-scoped account for its own force only (AccessDenied, audited);
        a bad format, force or address raises UserError. Audited."""
        if self.principal.demo:
            raise self._denied("Board packs by email need a signed-in account: this "
                               "demonstration has none.")
        self.require(Action.EXPORT, force)
        return self.security.subscribe(
            self.principal.username, force, fmt, email, actor=self.principal.username,
            address=self.address, known_forces=list(self.dataset().forces["slug"]))

    def unsubscribe(self, force: str) -> None:
        """End this principal's subscription to ``force``'s pack (UserError if none)."""
        self.security.unsubscribe(self.principal.username, force,
                                  actor=self.principal.username, address=self.address)

    # ------------------------------------------------------------------ API tokens

    def api_tokens(self) -> list[security.ApiToken]:
        """This principal's own API tokens in use, for the data feeds (none in the
        demonstration, which has no accounts)."""
        if self.principal.demo:
            return []
        return self.security.tokens(self.principal.username)

    def create_api_token(self, name: str) -> tuple[security.ApiToken, str]:
        """A new API token for this principal's account: (the token, its secret, shown
        once). A feed is an export: analysts and admins (AccessDenied, audited); a bad
        name or too many tokens raise UserError. Audited."""
        if self.principal.demo:
            raise self._denied("API tokens need a signed-in account: this demonstration "
                               "has none (its feeds answer on this computer without one).")
        self.require(Action.EXPORT)
        return self.security.create_token(self.principal.username, name,
                                          actor=self.principal.username, address=self.address)

    def revoke_api_token(self, token_id: str) -> security.ApiToken:
        """Revoke one of this principal's own tokens (UserError if it has no such token
        in use). Audited."""
        if self.principal.demo:
            raise self._denied("API tokens need a signed-in account: this demonstration "
                               "has none.")
        return self.security.revoke_token(token_id, actor=self.principal.username,
                                          address=self.address,
                                          username=self.principal.username)

    def record_feed(self, token: security.ApiToken | None, detail: str) -> None:
        """Audit a feed request with the account's role and scope (``token``: the token
        it came with, whose last use is recorded; None in the demonstration)."""
        scope = self.principal.force or "all forces"
        detail = f"{detail} (account: {self.principal.role.value}, {scope})"
        if token is None:
            self.audit(security.FEED, detail)
        else:
            self.security.record_feed(token, detail, self.address)

    # ------------------------------------------------------------------ accounts

    def accounts(self, query: str = "", role: str | None = None, force: str | None = None,
                 status: str | None = None, page: int = 1) -> security.AccountPage:
        """One page of the accounts (``security.ACCOUNTS_PER_PAGE`` a page), searched by
        user name or display name and filtered by role, scope (a force, or
        ``security.ALL_FORCES``) and status. Administrators only; a force-scoped one
        sees its own force's accounts only (asking for others is refused, audited)."""
        self._require_account_admin()
        scope = self.principal.force
        if scope is not None:
            if force not in (None, "", scope):
                raise self._denied(self._account_scope_refusal(scope))
            force = scope
        return self.security.accounts(query, role, force, status, page)

    def account(self, username: str) -> security.User:
        """``username``'s account, if this administrator may manage it (AccessDenied,
        audited; UserError if there is no such account)."""
        return self._managed_account(username)

    def add_account(self, username: str, role: str, force: str | None = None,
                    display_name: str = "", password: str | None = None,
                    sso_only: bool = False) -> tuple[security.User, str | None]:
        """Add an account with ``role`` and scope ``force`` (None: every force): (the
        account, the temporary password generated when ``password`` is None, to be shown
        once; None when the administrator typed one). Either way the password is the
        administrator's, so the account must change it at its first sign-in;
        ``sso_only``: no password (single sign-on only). A force-scoped administrator
        adds accounts for its own force only (AccessDenied, audited); a bad name, role,
        force or password raises UserError. Audited as this administrator."""
        self._require_account_admin()
        self._check_grant(force)
        if sso_only and password:
            raise security.UserError("An account for single sign-on only has no password: "
                                     "leave the password empty.")
        generated = None if sso_only or password is not None else security.temporary_password()
        user = self.security.add_user(
            username, role, None if sso_only else (password or generated), force,
            display_name, actor=self.principal.username,
            known_forces=self._force_slugs(), must_change_password=True,
            address=self.address)
        return user, generated

    def set_account_role(self, username: str, role: str, force: str | None = None) -> None:
        """Give an account ``role`` and scope ``force`` (None: every force); its sessions
        end. A force-scoped administrator changes its own force's accounts, within its
        force (admin included); the last active administrator covering every force
        cannot be demoted or narrowed (UserError). Audited, before and after."""
        target = self._managed_account(username)
        self._check_grant(force)
        if (target.role.value, target.force_slug) == (role, force):
            raise security.UserError(f"{username} is {role} for "
                                     f"{self._scope_name(force)} already: nothing changed.")
        self.security.set_role(username, role, force, actor=self.principal.username,
                               known_forces=self._force_slugs(), address=self.address,
                               keep_an_admin=True)

    def disable_account(self, username: str) -> None:
        """Disable an account: no sign-in, its sessions end, its API tokens are refused.
        Not one's own (ask another administrator), nor the last active administrator
        covering every force (UserError). Audited."""
        self._managed_account(username)
        if username == self.principal.username:
            raise security.UserError("You cannot disable your own account: ask another "
                                     "administrator.")
        self.security.disable_user(username, actor=self.principal.username,
                                   address=self.address)

    def enable_account(self, username: str) -> None:
        """Let a disabled account sign in again (UserError if it is not disabled)."""
        self._managed_account(username)
        self.security.enable_user(username, actor=self.principal.username,
                                  address=self.address)

    def reset_password(self, username: str, password: str | None = None) -> str | None:
        """Reset an account's password to ``password`` (None: a generated temporary
        password, returned to be shown once); the account must change it at its next
        sign-in, and its sessions end. Audited ("reset by" this administrator)."""
        self._managed_account(username)
        chosen = self.security.reset_password(username, password,
                                              actor=self.principal.username,
                                              address=self.address)
        return chosen if password is None else None

    def _require_account_admin(self) -> None:
        """Administrators manage accounts (AccessDenied, audited); the unsecured
        demonstration has none to manage (AccessDenied, not audited: nothing is refused
        to anyone, there is nobody to name, and an audit row on a DuckDB users file is a
        copy of the file, some 75 ms that any request could make the server spend)."""
        self.require(Action.MANAGE_USERS)
        if self.principal.demo:
            raise AccessDenied("This unsecured demonstration has no accounts: add the first "
                               "administrator with 'flightdeck users add NAME --role admin' "
                               "and restart it, then manage accounts here.")

    def _managed_account(self, username: str) -> security.User:
        """``username``'s account, if this administrator may manage it: a force-scoped
        administrator, only its own force's (AccessDenied, audited, whether or not the
        account exists, so other forces' user names are not revealed)."""
        self._require_account_admin()
        user = self.security.user(username)
        scope = self.principal.force
        if scope is not None and (user is None or user.force_slug != scope):
            raise self._denied(self._account_scope_refusal(scope))
        if user is None:
            raise security.UserError(f"There is no user called {username!r}.")
        return user

    def _check_grant(self, force: str | None) -> None:
        """A force-scoped administrator gives accounts its own force's scope only (with
        any role there, admin included): never every force, nor another force."""
        scope = self.principal.force
        if scope is not None and force != scope:
            raise self._denied(f"Your account is limited to {self._area_name(scope)}: you "
                               f"cannot give an account access to {self._scope_name(force)}, "
                               f"only to {self._area_name(scope)}.")

    def _account_scope_refusal(self, scope: str) -> str:
        return (f"Your account is limited to {self._area_name(scope)}: you may manage "
                f"{self._area_name(scope)}'s accounts only.")

    def _scope_name(self, force: str | None) -> str:
        return "every force" if force is None else self._area_name(force)

    def _force_slugs(self) -> list[str]:
        return [str(slug) for slug in self.dataset().forces["slug"]]

    # ------------------------------------------------------------------ reference data

    def adoption_months(self) -> list[tuple[str, str, dt.date | None]]:
        """Each force (slug, name) and its NOM adoption month (None: not known)."""
        with self.reader.connect() as conn:
            return reference.adoption_months(conn)

    def population_estimates(self) -> pd.DataFrame:
        """The ONS mid-year estimates loaded: year, force_slug, name, population, source."""
        with self.reader.connect() as conn:
            return reference.population_estimates(conn)

    def load_adoption(self, path: Path, today: dt.date | None = None) -> AdoptionResult:
        """Set NOM adoption months from a CSV file (all or nothing)."""
        return self._load_reference("NOM adoption months", path,
                                    lambda: load_adoption(self.db_path, path, today))

    def load_populations(self, path: Path, today: dt.date | None = None
                         ) -> PopulationResult:
        """Replace the population estimates of every year a file gives (all or nothing)."""
        return self._load_reference("population estimates", path,
                                    lambda: load_populations(self.db_path, path, today))

    # ------------------------------------------------------------------ return template

    def return_template(self, force: str, start: dt.date, end: dt.date, fmt: str,
                        prefill: bool = False) -> bytes:
        """A monthly return for ``force`` to fill in, as CSV or XLSX bytes, from the
        catalogue in force: blank, or (``prefill``) with the force's stored values for
        months already loaded and its latest values for the rest, to edit. Only those
        who may load the force's data get one; a pre-filled one is audited (data going
        out). Raises AccessDenied, and ValueError for a bad force, month or format."""
        import tempfile

        from kpis.ingest.context import build_context
        from kpis.ingest.template import prefill_values, write_template
        from kpis.storage import schema as tables

        if fmt not in ("csv", "xlsx"):
            raise ValueError(f"a return template is CSV or XLSX, not {fmt!r}")
        self.require(Action.LOAD, force)
        obs = tables.observations
        with self.reader.connect() as conn:
            context = build_context(conn)
            stored = [] if not prefill else [
                (row.period_start, row.measure_id, row.value) for row in conn.execute(
                    sa.select(obs.c.period_start, obs.c.measure_id, obs.c.value).where(
                        obs.c.force_slug == force,
                        obs.c.measure_id.in_(list(context.return_measures)),
                        obs.c.period_start <= end))]
        values = prefill_values(stored, start, end) if prefill else None
        with tempfile.TemporaryDirectory(prefix="flightdeck-template-") as folder:
            out = Path(folder) / f"return.{fmt}"
            write_template(out, context, force, start, end, values)
            data = out.read_bytes()
        if prefill:
            self.audit(security.EXPORT, f"return template for {force}, {start:%Y-%m} to "
                                        f"{end:%Y-%m}, pre-filled with stored values")
        return data

    # ------------------------------------------------------------------ definitions

    def catalogue(self) -> Catalogue:
        """The catalogue the database holds: every version of every KPI, drafts
        included (the source of truth for what is published)."""
        with self.reader.connect() as conn:
            return fetch_catalogue(conn)

    def _require_national_admin(self, what: str) -> None:
        self.require(Action.EDIT_DEFINITIONS)
        if self.principal.force is not None:
            raise self._denied(f"{what} is national: only administrators who cover every "
                               "force can do it.")

    def save_definition_draft(self, kpi_id: str, changes: Mapping[str, object],
                              today: dt.date | None = None) -> KpiDefinition:
        """Save ``changes`` to a KPI as its draft (a new version when the latest is
        published), checked by the catalogue file's rules; audited with what changed.
        Raises AccessDenied, KeyError for an unknown KPI and CatalogueError."""
        self._require_national_admin("Editing KPI definitions")
        current = self.catalogue()
        before = latest_version(current, kpi_id)
        edited, draft = edited_catalogue(current, kpi_id, changes, today or dt.date.today())
        write_catalogue(self.db_path, edited)
        self._keep_kpi_csv()
        changed = "; ".join(f"{field}: {old} -> {new}"
                            for field, old, new in version_changes(before, draft))
        self.audit(security.DEFINITION_DRAFTED,
                   f"{kpi_id} version {draft.version} (draft): {changed or 'no change'}")
        return draft

    def publish_definition(self, kpi_id: str, version: int) -> KpiDefinition:
        """Publish the KPI's draft ``version``: it becomes the definition in force."""
        self._require_national_admin("Publishing KPI definitions")
        current = self.catalogue()
        previous = next((k for k in current.published() if k.kpi_id == kpi_id), None)
        published, kpi = published_catalogue(current, kpi_id, version)
        write_catalogue(self.db_path, published)
        self._keep_kpi_csv()
        changed = "; ".join(f"{field}: {old} -> {new}"
                            for field, old, new in version_changes(previous, kpi))
        self.audit(security.DEFINITION_PUBLISHED,
                   f"{kpi_id} version {kpi.version} published: {changed or 'no change'}")
        return kpi

    def export_catalogue(self) -> str:
        """The catalogue as YAML (the file format); audited as data going out."""
        text = dump_catalogue(self.catalogue())
        self.audit(security.CATALOGUE_EXPORTED, f"{text.count(chr(10))} lines")
        return text

    def _load_reference(self, what: str, path: Path, load: Callable[[], Loaded]) -> Loaded:
        """Reference data is national: administrators who cover every force may load it.
        Audited whether it lands or not: who, when, the file and what it changed."""
        self.require(Action.LOAD_REFERENCE)
        if self.principal.force is not None:
            raise self._denied(f"{what.capitalize()} are national reference data: only "
                               "administrators who cover every force can load them.")
        try:
            result = load()
        except LoadRefused as refused:
            self.audit(security.REFERENCE_REFUSED,
                       f"{what} from {Path(path).name}: {refused.report.error_count} "
                       "error(s), nothing written")
            raise
        self._keep_kpi_csv()
        self.audit(security.REFERENCE, f"{what} (every force) from {result.file} "
                                       f"(sha256 {result.sha256[:12]}): {result.changed()}")
        return result

    def _keep_kpi_csv(self) -> None:
        """After a write of data, definitions or reference data: the whole catalogue's
        CSV kept in a DuckDB file for ``flightdeck kpis`` (kpis.exports.stored_kpi_csv;
        nothing on PostgreSQL; a failure is logged, the write stands)."""
        refresh_stored_csv(self.db_path)

    def _denied(self, message: str) -> AccessDenied:
        self.audit(security.ACCESS_DENIED, message)
        return AccessDenied(message)

    def close(self) -> None:
        self.reader.close()
        self.security.close()

