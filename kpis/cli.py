"""``flightdeck``: the analysts' command line.

Build demonstration data, load files, roll back a load, write a blank return
template, reload the KPI catalogue, compute KPIs to CSV or JSON, manage and send board
pack subscriptions, and serve the dashboard. Every command takes ``--db PATH``
(default: $FLIGHTDECK_DB, else data/flightdeck.duckdb).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpis.domain.access import ROLES, Principal, Role
from kpis.domain.baseline import Baseline
from kpis.domain.events import EVENTS, EXPORT, SUBSCRIPTION_FORMATS, UserError
from kpis.domain.periods import format_month, last_complete_month, parse_month
from kpis.domain.vocabulary import BASELINE_PHRASE
from kpis.settings import (
    CATALOGUE_FILE,
    Location,
    is_database_url,
    keep_files_private,
    one_blas_thread,
    resolve_db_path,
)

if TYPE_CHECKING:
    from kpis.background_audit import BackgroundAudit
    from kpis.exports.stored_kpi_csv import StoredCsv
    from kpis.ingest.problems import LoadRefused, Report
    from kpis.service import FlightDeckService


MAX_REVISIONS_LISTED = 20  # revisions a load prints; the history keeps all


def database_exists(db: Location) -> bool:
    """Whether the database at ``db`` (a file or a PostgreSQL URL) has been created."""
    if not is_database_url(db):
        return Path(db).exists()
    from kpis.storage.backend import open_store

    with open_store(db) as store:
        return store.exists()


def _month(text: str) -> dt.date:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _baseline(text: str) -> Baseline:
    try:
        return Baseline.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# An option of a command: its flags (or name) and add_argument's keywords.
Option = tuple[tuple[str, ...], dict[str, Any]]
Handler = Callable[[argparse.Namespace], int]
# A command's subcommands ("flightdeck users add"): name -> (help, options).
Actions = dict[str, tuple[str, list[Option]]]


def _opt(*flags: str, **settings: Any) -> Option:
    return flags, settings


_DB = _opt("--db", metavar="PATH|URL",
           help="DuckDB file or PostgreSQL URL (default: $FLIGHTDECK_DB, else "
                "data/flightdeck.duckdb)")
# Every command and subcommand takes --db but "catalogue check", which reads only a file,
# and "worker", whose jobs each name their own database.
_WITHOUT_DB = {"catalogue check", "worker", "copy"}

# Commands that, as a process of their own, run without the cyclic garbage collector:
# short, and leaving little garbage in cycles, so that its collections (two full ones
# while pandas is imported, some 0.03 s of ``flightdeck kpis``' 0.8 s:
# bench/bench_cli.py) would only tidy memory the exit gives back anyway (the whole
# catalogue peaked at 210 MB either way). Never the long-running ones (serve, worker).
_WITHOUT_GC = {"kpis"}
# Options several commands share.
_FORCE = _opt("--force", required=True, metavar="SLUG")
_OUT = _opt("--out", required=True, type=Path, metavar="FILE")
_CATALOGUE_FILE = _opt("--file", type=Path, default=CATALOGUE_FILE, metavar="FILE")
_USERNAME = _opt("username", metavar="NAME")
_ACCOUNT_FORCE = _opt("--force", metavar="SLUG",
                      help="limit the account to one force (default: every force)")
_PASSWORD_STDIN = _opt("--password-stdin", action="store_true",
                       help="read the password from standard input instead of asking")


def _marking(where: str, by_source: bool = False) -> Option:
    if by_source:  # kpis.engine.disclosure.default_marking, worked out once the KPIs are known
        return _opt("--marking", default=None, metavar="TEXT",
                    help=f"protective marking {where} (default: OFFICIAL for Home Office "
                         "open data only, else OFFICIAL-SENSITIVE)")
    return _opt("--marking", default="OFFICIAL-SENSITIVE", metavar="TEXT",
                help=f"protective marking {where} (default: OFFICIAL-SENSITIVE)")


def _suppress(what: str) -> Option:
    return _opt("--suppress", action="store_true", help=f"apply disclosure control{what}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flightdeck",
        description="NOM flight deck: RASSO performance measures for police forces in "
        "England and Wales.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _, spec) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        if isinstance(spec, dict):
            actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
            for action, (action_help, options) in spec.items():
                _add_options(actions.add_parser(action, help=action_help), f"{name} {action}",
                             options)
        else:
            _add_options(command, name, spec)
    return parser


def _add_options(parser: argparse.ArgumentParser, command: str, options: list[Option]
                 ) -> None:
    for flags, settings in ([] if command in _WITHOUT_DB else [_DB]) + options:
        parser.add_argument(*flags, **settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. ``argv`` None: this process's own arguments (the console script,
    ``python -m kpis.cli``), and the process exits once the command returns."""
    args = build_parser().parse_args(argv)
    handler = COMMANDS[args.command][1]
    if argv is None and args.command in _WITHOUT_GC:  # a process of its own: see above
        import gc

        gc.disable()
    keep_files_private()
    from kpis.storage.errors import StoreError  # not the store: SQLAlchemy and pandas

    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except StoreError as problem:  # e.g. a database written by a newer flight deck
        return _fail(f"flightdeck: {problem}", 1)
    finally:
        if argv is None:
            _before_exit()


def _before_exit() -> None:
    """Keep the interpreter's last garbage collections off this process's objects.

    With pandas, SQLAlchemy and a dataset loaded, those collections took some 0.1 s
    after a command's work was done (``flightdeck kpis``: bench/bench_cli.py). Only
    unreachable cycles are left uncollected, at exit: files and connections are closed
    by then, and the atexit handlers still run.
    """
    import gc

    gc.freeze()


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fail(message: str, code: int) -> int:
    """Say why on standard error; ``code`` is the exit status."""
    print(message, file=sys.stderr)
    return code


def _force_slugs() -> list[str]:
    from kpis.storage.reference import read_forces

    return [str(f["slug"]) for f in read_forces()]


def cmd_demo(args: argparse.Namespace) -> int:
    from kpis.ingest.demo import DEFAULT_SEED, build_demo

    db = resolve_db_path(args.db)
    end = args.end or last_complete_month()
    print(f"Building demonstration data to {format_month(end)} in {db}", file=sys.stderr)
    build_demo(db, end=end, seed=args.seed if args.seed is not None else DEFAULT_SEED,
               progress=_progress)
    _keep_kpi_csv(db)
    return 0


def _keep_kpi_csv(db: Location) -> None:
    """After a command wrote data, definitions or reference data: the whole catalogue's
    KPI CSV kept in a DuckDB file for ``flightdeck kpis`` (kpis.exports.stored_kpi_csv;
    the service does the same after its writes)."""
    from kpis.exports.stored_kpi_csv import refresh_stored_csv

    refresh_stored_csv(db)


def _operator(name: str | None = None) -> Principal:
    """Whoever runs the command line: every force (they can read the file anyway), named
    in the audit log by their operating system account."""
    user = name or getpass.getuser()
    return Principal(username=f"{user} (command line)", role=Role.ADMIN, display_name=user)


def _refusal(refused: LoadRefused) -> int:
    """A refused load on standard error (the reason and the first 50 findings): exit 1."""
    print(str(refused), file=sys.stderr)
    for finding in refused.report.warnings[:50]:
        print(f"  {finding}", file=sys.stderr)
    return 1


def _findings(report: Report) -> None:
    """A landed load's warnings and the rows it passed over, on standard error."""
    for finding in report.warnings:
        print(f"  {finding}", file=sys.stderr)
    for what, count in sorted(report.ignored.items()):
        print(f"  ignored {count} row(s) {what}", file=sys.stderr)


def cmd_load(args: argparse.Namespace) -> int:
    from kpis.ingest.loader import describe
    from kpis.ingest.problems import LoadRefused
    from kpis.service import FlightDeckService

    service = FlightDeckService(resolve_db_path(args.db), _operator(args.user))
    if args.dry_run:
        return _dry_run(service, args.files, args.kind)
    try:
        result = service.load(args.files, kind=args.kind)
    except LoadRefused as refused:
        return _refusal(refused)
    _findings(result.report)
    for item in result.files:
        print(describe(item))
        for revision in item.revisions[:MAX_REVISIONS_LISTED]:
            print(f"  revised: {revision}")
        if len(item.revisions) > MAX_REVISIONS_LISTED:
            print(f"  ... and {len(item.revisions) - MAX_REVISIONS_LISTED:,} more revisions "
                  "(the load history keeps every old value)")
    print(f"loaded {len(args.files)} file(s) as load(s) {', '.join(map(str, result.load_ids))}: "
          f"{result.observations} observations, {len(result.report.warnings)} warning(s)")
    _send_packs_after_load(service)
    return 0


def _dry_run(service: FlightDeckService, files: list[Path], kind: str | None) -> int:
    """``load --dry-run``: the report and what the load would change; nothing written.
    Exits as the load would: 0 when it would load, 1 (the refusal) otherwise."""
    from kpis.ingest.loader import describe
    from kpis.ingest.problems import LoadRefused

    preview = service.preview_load(files, kind=kind)
    if not preview.would_load:
        return _refusal(LoadRefused(preview.report))
    _findings(preview.report)
    for item in preview.files:
        print(describe(item))
    print(preview.headline())
    for line in preview.lines():
        print(line)
    print("dry run: nothing was written")
    return 0


def _send_packs_after_load(service: FlightDeckService) -> None:
    """Send the board packs the load made due, if mail is configured: the load has
    landed, so nothing here changes the exit status (a failure is logged and audited)."""
    from kpis.settings import MailConfig
    from kpis.storage.security import PACK_NOT_SENT

    try:
        mail = MailConfig.from_env()
    except ValueError as problem:
        print(f"board packs not sent: {problem}", file=sys.stderr)
        service.audit(PACK_NOT_SENT, f"after a load: {problem}")
        return
    if not mail.configured:
        return
    from kpis.subscriptions import after_load

    for outcome in after_load(service, mail, progress=_progress):
        print(f"board pack {outcome}")


def cmd_migrate(args: argparse.Namespace) -> int:
    from kpis.domain.events import DATABASE_MIGRATED
    from kpis.storage.migrations import migrate_database
    from kpis.storage.security import SecurityStore, security_db_path

    db = resolve_db_path(args.db)
    lines = migrate_database(db, security_db_path(db))
    _keep_kpi_csv(db)
    for line in lines:
        print(line)
    store = SecurityStore(security_db_path(db))
    store.record(DATABASE_MIGRATED, _operator().username, "; ".join(lines))
    store.close()
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from kpis.domain.events import DATABASE_COPIED
    from kpis.storage.copying import CopyRefused, copy_databases
    from kpis.storage.security import SecurityStore, security_db_path

    source, target = resolve_db_path(args.source), resolve_db_path(args.target)
    try:
        copied = copy_databases(source, target, progress=_progress)
    except CopyRefused as refused:
        return _fail(f"flightdeck copy: {refused}", 1)
    _keep_kpi_csv(target)
    detail = "; ".join(f"{each.total} rows from {each.source}" for each in copied)
    store = SecurityStore(security_db_path(target))
    store.record(DATABASE_COPIED, _operator().username, f"every force: {detail}")
    store.close()
    for each in copied:
        print(f"{each.total:,} rows copied from {each.source} to {each.target}")
    return 0


def cmd_loads(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from kpis.storage import schema
    from kpis.storage.backend import open_store

    db = resolve_db_path(args.db)
    store = open_store(db)
    if not store.exists():
        return _fail(f"no database at {db}", 1)
    with store:
        table = store.frame(sa.select(schema.loads).order_by(schema.loads.c.load_id))
    print("no loads yet" if table.empty else table.to_string(index=False))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from kpis.ingest.loader import RollbackRefused
    from kpis.service import FlightDeckService

    try:
        changed = FlightDeckService(resolve_db_path(args.db), _operator()).rollback(args.load_id)
    except RollbackRefused as refused:
        return _fail(f"rollback refused: {refused}", 1)
    print(f"rolled back load {args.load_id}: {changed} observation(s) removed or restored")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from kpis.ingest.context import build_context, shipped_context
    from kpis.ingest.template import write_template
    from kpis.storage.backend import open_store

    if args.end < args.start:
        return _fail("--to is before --from", 2)
    if args.force not in _force_slugs():
        return _fail(f"unknown force {args.force!r}; use a slug such as 'kent'", 2)
    # The database's catalogue (what is published now), else the shipped one.
    db = resolve_db_path(args.db)
    if database_exists(db):
        with open_store(db) as store, store.connect() as conn:
            context = build_context(conn, dt.date.today())
    else:
        context = shipped_context(dt.date.today())
    write_template(args.out, context, args.force, args.start, args.end)
    print(f"wrote {args.out}")
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    from kpis.domain.catalogue import CatalogueError, read_catalogue
    from kpis.storage.database import reload_catalogue

    if args.action == "export":
        return _export_catalogue(args)
    try:
        if args.action == "check":
            catalogue = read_catalogue(args.file)
        else:
            catalogue = reload_catalogue(resolve_db_path(args.db), args.file)
            _keep_kpi_csv(resolve_db_path(args.db))
    except CatalogueError as exc:
        return _fail(str(exc), 1)
    published = catalogue.published()
    verb = "valid" if args.action == "check" else "loaded"
    print(f"{args.file}: {verb}: {len(catalogue.kpis)} KPI definitions "
          f"({len(published)} published), {len(catalogue.measures)} measures")
    return 0


def _export_catalogue(args: argparse.Namespace) -> int:
    """The database's catalogue (every version, drafts included) as YAML: the file
    ``catalogue load`` reads back to the same catalogue."""
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if not database_exists(db):
        return _fail(f"no database at {db}: run 'flightdeck demo' first", 1)
    service = FlightDeckService(db, _operator())
    try:
        text = service.export_catalogue()
    finally:
        service.close()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_peer_groups(args: argparse.Namespace) -> int:
    from kpis.storage.backend import open_store
    from kpis.storage.database import initialise, is_initialised
    from kpis.storage.reference import PeerGroupError, store_peer_groups

    try:
        with open_store(resolve_db_path(args.db)) as store, store.write() as conn:
            if not is_initialised(conn):
                initialise(conn)
            count = store_peer_groups(conn, args.file)
    except PeerGroupError as exc:
        return _fail(str(exc), 1)
    _keep_kpi_csv(resolve_db_path(args.db))
    print(f"loaded {count} peer group(s) from {args.file}")
    return 0


def _kpis_scope(args: argparse.Namespace, marking: str, suppress: bool) -> str:
    """What a ``flightdeck kpis`` run sends out, for its audit row."""
    def listed(values: Sequence[str] | None) -> str:
        return ", ".join(values) if values else "all"

    periods = (f"{format_month(args.start) if args.start else 'first'} to "
               f"{format_month(args.end) if args.end else 'latest'}")
    return (f"KPI table ({args.format}) to {args.out or 'standard output'}: "
            f"KPIs {listed(args.kpi)}; areas {listed(args.force)}; periods {periods}; "
            f"{_marked(marking, suppress)}")


class _NotAudited(Exception):
    """The audit row of a ``flightdeck kpis`` run was not written: nothing is sent."""


def _say_what_was_sent(args: argparse.Namespace, marking: str, suppress: bool) -> None:
    """On standard error, once the table is written: which SPC limits these are (so the
    numbers can be matched with the dashboard), its marking and disclosure control."""
    print(f"SPC limits: baseline {args.baseline} ({BASELINE_PHRASE[args.baseline.kind]}); "
          "computed on each whole series, then cut to --from/--to", file=sys.stderr)
    print(f"Protective marking: {marking}; disclosure control "
          f"{'applied' if suppress else 'not applied'}", file=sys.stderr)


def cmd_kpis(args: argparse.Namespace) -> int:
    from kpis.background_audit import BackgroundAudit

    db = resolve_db_path(args.db)
    if not database_exists(db):
        return _fail(f"no database at {db}: run 'flightdeck demo' or 'flightdeck load' first", 1)
    if args.format == "xlsx" and not args.out:
        return _fail("error: --format xlsx needs --out FILE.xlsx (a workbook is not text)", 2)
    if args.out and (missing := _missing_folder(args.out)):
        return _fail(missing, 2)
    # Audited as every export is; the row is written by a child process while this one
    # works (kpis.background_audit: why), and before anything is sent out.
    audit = BackgroundAudit(db, EXPORT, _operator().username)
    try:
        return _kpis(args, db, audit)  # which waits for the row before sending anything
    finally:
        audit.finish()  # the child reaped, whatever happened


def _whole_catalogue_csv(args: argparse.Namespace) -> bool:
    """Whether the command asks for the table a DuckDB file keeps
    (kpis.exports.stored_kpi_csv): every KPI, area and month as CSV to a file, with the
    default marking and disclosure decision."""
    return bool(args.out and args.format == "csv" and not args.kpi and not args.force
                and args.start is None and args.end is None and args.marking is None
                and not args.suppress)


def _send_stored(args: argparse.Namespace, stored: StoredCsv, audit: BackgroundAudit) -> int:
    """The kept table copied to ``--out``, once the audit row is recorded."""
    audit.confirm(_kpis_scope(args, stored.marking, stored.suppress))

    def recorded() -> None:
        if not audit.finish():
            raise _NotAudited

    try:
        stored.write(args.out, before_writing=recorded)
    except _NotAudited:
        return _fail("error: the export was not audited (see above); nothing written", 1)
    _say_what_was_sent(args, stored.marking, stored.suppress)
    return 0


def _kpis(args: argparse.Namespace, db: Location, audit: BackgroundAudit) -> int:
    if _whole_catalogue_csv(args) and not is_database_url(db):
        # The whole catalogue, kept in the file by the last write that changed it: one
        # COPY, without numpy, pandas or the engine (bench/bench_cli.py). Not kept, or
        # kept for other data or code: computed below.
        from kpis.exports.stored_kpi_csv import open_stored_csv

        stored = open_stored_csv(db, args.baseline)
        if stored is not None:
            with stored:
                return _send_stored(args, stored, audit)
    one_blas_thread()
    from kpis.engine.disclosure import default_marking, open_data_only, suppression_required
    from kpis.exports.kpi_csv import (
        kpi_table_for_cli,
        prepare_csv,
        table_notes,
        write_table,
        write_xlsx,
    )
    from kpis.storage.duckdb_reader import read_dataset

    # The dataset as the service reads it for the operator (every force), without the
    # service's users and audit store and its other layers' imports: this command is
    # timed as a new process (bench/bench_cli.py). A DuckDB file at the current schema
    # is read with duckdb alone (no SQLAlchemy: some 0.25 s); anything else
    # (PostgreSQL, a file to upgrade or refuse) through the store.
    dataset = None if is_database_url(db) else read_dataset(db)
    if dataset is None:
        from kpis.storage.backend import open_store
        from kpis.storage.dataset_loader import load_dataset

        with open_store(db) as store, store.connect() as conn:
            dataset = load_dataset(conn)
    chosen = [dataset.kpis[k] for k in (args.kpi or dataset.kpis) if k in dataset.kpis]
    marking = args.marking or default_marking(dataset.catalogue, chosen)
    suppress = suppression_required(marking, args.suppress,
                                    open_data=open_data_only(dataset.catalogue, chosen))
    try:
        if args.out and args.format == "csv":
            # Written in chunks, the engine computing the next while DuckDB writes one.
            prepared = prepare_csv(dataset, args.kpi, args.force, args.start, args.end,
                                   suppress, baseline=args.baseline, marking=marking)
        else:
            table = kpi_table_for_cli(dataset, args.kpi, args.force, args.start, args.end,
                                      suppress, fmt=args.format, baseline=args.baseline,
                                      marking=marking)
    except KeyError as exc:
        return _fail(f"error: {exc.args[0]}", 2)  # nothing is sent: nothing audited
    audit.confirm(_kpis_scope(args, marking, suppress))
    not_audited = "error: the export was not audited (see above); nothing written"
    if args.out and args.format == "csv":
        # The row is waited for only when the first chunk is ready to go into the file
        # (the engine and DuckDB work on while the child writes it); nothing reaches
        # the file, nor is it created or emptied, until it is recorded.
        def recorded() -> None:
            if not audit.finish():
                raise _NotAudited

        try:
            prepared.write(args.out, before_writing=recorded)  # as write_csv writes it
        except _NotAudited:
            return _fail(not_audited, 1)
        _say_what_was_sent(args, marking, suppress)
        return 0
    if not audit.finish():  # recorded before the data goes out, or it does not
        return _fail(not_audited, 1)
    if args.format == "xlsx":
        with open(args.out, "wb") as binary:
            write_xlsx(table, binary, table_notes(dataset, table, marking, suppress, args.kpi))
    else:
        with (open(args.out, "w", newline="", encoding="utf-8") if args.out
              else contextlib.nullcontext(sys.stdout)) as handle:
            write_table(table, handle, args.format)
    _say_what_was_sent(args, marking, suppress)
    return 0


def _export(args: argparse.Namespace,
            write: Callable[[FlightDeckService, Path], tuple[str, str]]) -> int:
    """Run an export over the database, turning known failures into exit codes:
    1 no database (or the export could not be audited), 2 unknown force, KPI or pillar
    (or a bad value), 3 no renderer.

    ``write(service, path)`` writes the file to ``path``, a private temporary file, and
    says what it is and what it holds (the audit row: "WHAT to OUT: HOLDS"). Only once
    that row is written does the file go to ``--out`` (created, or overwritten in place,
    as ``open(out, "wb")`` would: through a symbolic link, an existing file's
    permissions kept); if the row cannot be written, nothing is sent and a file already
    at ``--out`` is left as it was."""
    import tempfile

    from kpis.exports.render import RendererUnavailable
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if not database_exists(db):
        return _fail(f"no database at {db}: run 'flightdeck demo' first", 1)
    out = Path(args.out)
    if missing := _missing_folder(out):  # said before the work, not after the audit row
        return _fail(missing, 2)
    service = FlightDeckService(db, _operator())
    handle, staging = tempfile.mkstemp(prefix="flightdeck-export-", suffix=out.suffix)
    os.close(handle)
    try:
        try:
            what, holds = write(service, Path(staging))
        except KeyError as exc:
            return _fail(f"error: {exc.args[0]}", 2)
        except ValueError as exc:
            return _fail(f"error: {exc}", 2)
        except RendererUnavailable as exc:
            return _fail(f"error: {exc}", 3)
        try:
            service.authorise_export(f"{what} to {out}: {holds}", args.force)
        except Exception:  # reported, and nothing is sent
            traceback.print_exc(file=sys.stderr)
            return _fail("error: the export was not audited (see above); nothing written", 1)
        try:  # audited: a copy that fails now is recorded but not sent, never the reverse
            with open(staging, "rb") as made, open(out, "wb") as sent:
                shutil.copyfileobj(made, sent)
        except OSError as exc:
            return _fail(f"error: could not write {out}: {exc.strerror or exc}", 1)
    finally:
        os.unlink(staging)
    print(f"wrote {out}")
    return 0


def _marked(marking: str, suppress: bool) -> str:
    """The marking and disclosure control of an export, as its audit row says them."""
    return f"{marking}, disclosure control {'applied' if suppress else 'not applied'}"


def _missing_folder(out: str | os.PathLike[str]) -> str | None:
    """Why ``--out`` cannot be written, when its folder is not there (else None)."""
    folder = Path(out).parent
    return None if folder.is_dir() else f"error: --out {out}: there is no folder {folder}"


def cmd_export(args: argparse.Namespace) -> int:
    from kpis.engine.disclosure import suppression_required
    from kpis.exports.packs import build_pack
    from kpis.storage.annotations import all_commentary

    def write(service: FlightDeckService, path: Path) -> tuple[str, str]:
        # Decided once, here, so that the pack and its audit row say the same (a marking
        # below OFFICIAL-SENSITIVE gets disclosure control whatever was asked).
        suppress = suppression_required(args.marking, args.suppress)
        build_pack(
            service, args.force, args.period, args.format, pillars=args.pillar,
            kpis=args.kpi, marking=args.marking, suppress=suppress, out=path,
            progress=_progress,
            commentary=all_commentary(service.reader, args.force, args.period),
            full=args.full, template=args.template, pictures=args.pictures)
        pillars = ", ".join(str(n) for n in args.pillar) if args.pillar else "all"
        kpis = ", ".join(args.kpi) if args.kpi else "all published"
        return (f"board pack ({args.format}{', every KPI' if args.full else ''})",
                f"{args.force}, {format_month(args.period)}; pillars {pillars}; KPIs {kpis}; "
                f"{_marked(args.marking, suppress)}")

    return _export(args, write)


def cmd_chart(args: argparse.Namespace) -> int:
    from kpis.charts.specs import spc_export
    from kpis.engine.disclosure import default_marking, suppression_required
    from kpis.exports.charts import write_chart

    def write(service: FlightDeckService, path: Path) -> tuple[str, str]:
        ds = service.dataset()
        kpi = ds.kpis.get(args.kpi)
        chosen = [kpi] if kpi is not None else []
        marking = args.marking or default_marking(ds.catalogue, chosen)
        open_data = kpi is not None and ds.catalogue.is_open_data(kpi)
        suppress = suppression_required(marking, args.suppress, open_data=open_data)
        write_chart(spc_export(service, args.kpi, args.force, args.period, marking=marking,
                               suppress=suppress), args.format, path)
        return (f"SPC chart ({args.format}) of {args.kpi}",
                f"{args.force}, {format_month(args.period)}; {_marked(marking, suppress)}")

    return _export(args, write)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UserError("The two passwords differ.")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    store = SecurityStore(security_db_path(resolve_db_path(args.db)))
    actor = _operator().username
    try:
        if args.action == "list":
            accounts = store.users()
            if not accounts:
                print("no accounts: the app runs as an unsecured demonstration on 127.0.0.1")
            for user in accounts:
                print(f"{user.username}\t{user.role.value}\t{user.force_slug or 'all forces'}"
                      f"\t{user.display_name}\t{'password' if user.has_password else 'sso'}")
        elif args.action == "add":
            password = None if args.sso_only else _password(args.password_stdin)
            store.add_user(args.username, args.role, password, args.force, args.display_name,
                           actor=actor, known_forces=_force_slugs())
            print(f"added {args.username} ({args.role}, {args.force or 'all forces'})")
        elif args.action == "remove":
            store.remove_user(args.username, actor=actor)
            print(f"removed {args.username}")
        elif args.action == "set-password":
            store.set_password(args.username, _password(args.password_stdin), actor=actor)
            print(f"password set for {args.username}; their sessions have ended")
        else:
            store.set_role(args.username, args.role, args.force, actor=actor,
                           known_forces=_force_slugs())
            print(f"{args.username} is now {args.role} ({args.force or 'all forces'}); "
                  "their sessions have ended")
    except UserError as problem:
        return _fail(f"error: {problem}", 2)
    finally:
        store.close()
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    store = SecurityStore(security_db_path(resolve_db_path(args.db)))
    actor = _operator().username
    try:
        if args.action == "list":
            tokens = store.tokens(args.username, include_revoked=args.all)
            if not tokens:
                print("no API tokens")
            for token in tokens:
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at \
                    else "never used"
                state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at \
                    else "in use"
                print(f"{token.token_id}\t{token.username}\t{token.name}\t"
                      f"{token.created_at:%Y-%m-%d %H:%M}\t{used}\t{state}")
        elif args.action == "create":
            token, secret = store.create_token(args.username, args.label, actor=actor)
            print(f"token {token.token_id} for {token.username} ({token.name}); it is shown "
                  "this once, keep it as a password:", file=sys.stderr)
            print(secret)
        else:
            token = store.revoke_token(args.token_id, actor=actor)
            print(f"revoked token {token.token_id} of {token.username} ({token.name})")
    except UserError as problem:
        return _fail(f"error: {problem}", 2)
    finally:
        store.close()
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    db = resolve_db_path(args.db)
    if args.action == "send":
        return _send_subscriptions(db, args.dry_run)
    store = SecurityStore(security_db_path(db))
    actor = _operator().username
    try:
        if args.action == "list":
            subscriptions = store.subscriptions()
            if not subscriptions:
                print("no subscriptions")
            for sub in subscriptions:
                user = store.user(sub.username)
                email = (user.email if user else None) or "no address"
                last = format_month(sub.last_sent) if sub.last_sent else "nothing sent yet"
                print(f"{sub.username}\t{sub.force_slug}\t{sub.format}\t{email}\t{last}")
        elif args.action == "add":
            sub = store.subscribe(args.username, args.force, args.format, args.email,
                                  actor=actor, known_forces=_force_slugs())
            print(f"subscribed {sub.username} to {sub.force_slug}'s monthly board pack "
                  f"({sub.format})")
        else:
            store.unsubscribe(args.username, args.force, actor=actor)
            print(f"unsubscribed {args.username} from {args.force}'s board pack")
    except UserError as problem:
        return _fail(f"error: {problem}", 2)
    finally:
        store.close()
    return 0


def _send_subscriptions(db: Path, dry_run: Path | None) -> int:
    """Send every board pack that is due: exit 0, or 1 if any failed (each is audited),
    2 with nowhere to send to."""
    from kpis.service import FlightDeckService
    from kpis.settings import MailConfig
    from kpis.subscriptions import FAILED, MailNotConfigured, send_due

    try:
        mail = MailConfig.from_env()
    except ValueError as problem:
        return _fail(f"flightdeck: {problem}", 2)
    if not database_exists(db):
        return _fail(f"no database at {db}", 1)
    service = FlightDeckService(db, _operator())
    try:
        outcomes = send_due(service, mail, dry_run=dry_run, progress=_progress)
    except MailNotConfigured as problem:
        return _fail(f"flightdeck: {problem}", 2)
    finally:
        service.close()
    if not outcomes:
        print("nothing to send: every subscriber has had their force's latest complete month")
    for outcome in outcomes:
        print(outcome)
    return 1 if any(outcome.status == FAILED for outcome in outcomes) else 0


def cmd_audit(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    store = SecurityStore(security_db_path(resolve_db_path(args.db)))
    if args.prune:
        return _prune_audit(store, args.days)
    events = store.events(limit=args.limit, event=args.event)
    store.close()
    if not events:
        print("the audit log is empty")
    for e in events:
        print(f"{e.occurred_at:%Y-%m-%d %H:%M:%S}\t{e.event}\t{e.username}\t{e.address}"
              f"\t{e.detail}")
    return 0


def _prune_audit(store: Any, days: int | None) -> int:
    from kpis.settings import Settings

    keep = days if days is not None else Settings.from_env().audit_retention_days
    if keep < 1:
        store.close()
        return _fail("flightdeck audit --prune: no retention period: set "
                     "FLIGHTDECK_AUDIT_RETENTION_DAYS or give --days N (at least 1)", 2)
    before = dt.datetime.now().replace(microsecond=0) - dt.timedelta(days=keep)
    deleted = store.prune(before, _operator().username)
    store.close()
    print(f"deleted {deleted} audit events before {before:%Y-%m-%d %H:%M}")
    return 0


def _reference_command(args: argparse.Namespace,
                       listing: Callable[[FlightDeckService], None],
                       load: Callable[[FlightDeckService, Path], Any]) -> int:
    """``flightdeck adoption|populations list|load``: through the service, as the
    operator (an administrator), audited; a refusal names every problem, exit 1."""
    from kpis.ingest.problems import LoadRefused
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if args.action == "list" and not database_exists(db):
        return _fail(f"no database at {db}", 1)
    service = FlightDeckService(db, _operator())
    if args.action == "list":
        listing(service)
        return 0
    try:
        result = load(service, args.file)
    except LoadRefused as refused:
        return _refusal(refused)
    _findings(result.report)
    print(f"loaded {args.file}: {result.changed()}")
    return 0


def cmd_adoption(args: argparse.Namespace) -> int:
    from kpis.ingest.adoption import describe_month

    def listing(service: FlightDeckService) -> None:
        for slug, name, month in service.adoption_months():
            print(f"{slug}\t{name}\t{describe_month(month)}")

    return _reference_command(args, listing, lambda service, path: service.load_adoption(path))


def cmd_populations(args: argparse.Namespace) -> int:
    def listing(service: FlightDeckService) -> None:
        table = service.population_estimates()
        if table.empty:
            print("no population estimates loaded: counts per 100,000 use the approximate "
                  "populations in data/forces.csv")
        for year, slug, name, population, source in table.itertuples(index=False):
            print(f"{year}\t{slug}\t{name}\t{population}\t{source}")

    return _reference_command(args, listing,
                              lambda service, path: service.load_populations(path))


#: Subcommands whose handler lives outside kpis (the web app: kpis never imports it),
#: found through this entry point group (pyproject.toml: serve = "app:serve_command").
COMMANDS_GROUP = "flightdeck.commands"


def _plugin_command(name: str) -> Handler | None:
    """The handler a package registered for ``flightdeck NAME``, or None if none is."""
    from importlib.metadata import entry_points

    return next((ep.load() for ep in entry_points(group=COMMANDS_GROUP, name=name)), None)


def cmd_serve(args: argparse.Namespace) -> int:
    handler = _plugin_command("serve")
    if handler is None:
        return _fail(f"flightdeck serve: the web app is not installed (no {COMMANDS_GROUP!r} "
                     "entry point named 'serve'). Install the project, e.g. "
                     "'.venv/bin/pip install -e .' from its folder, or run 'python app.py'.", 2)
    return handler(args)


def cmd_worker(args: argparse.Namespace) -> int:
    """``flightdeck worker``: the national mode's export worker, a Celery worker on
    $FLIGHTDECK_REDIS_URL (Celery is imported here, not for --help)."""
    from kpis.settings import Settings

    try:
        redis_url = Settings.from_env().redis_url
    except ValueError as problem:
        return _fail(f"flightdeck: {problem}", 2)
    if not redis_url:
        return _fail("flightdeck worker: set FLIGHTDECK_REDIS_URL to the Redis the web "
                     "servers send board packs to (e.g. redis://127.0.0.1:6379/0)", 2)
    from kpis.celery_jobs import start_worker

    return start_worker(redis_url, concurrency=args.concurrency, pool=args.pool,
                        queue=args.queue)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


#: Every command: name -> (help, handler, its options or its subcommands), in help order.
COMMANDS: dict[str, tuple[str, Handler, list[Option] | Actions]] = {
    "demo": ("build a complete demonstration database", cmd_demo, [
        _opt("--end", type=_month, metavar="YYYY-MM",
             help="last month of data (default: the last complete month)"),
        _opt("--seed", type=int, default=None, metavar="N",
             help="random seed (same seed and end month give identical data)"),
    ]),
    "load": ("validate and load files (all or none)", cmd_load, [
        _opt("files", nargs="+", type=Path, metavar="FILE"),
        _opt("--kind", choices=("return", "ho-outcomes", "ho-recorded"),
             help="file kind (default: detected from the headers)"),
        _opt("--user", help="who is loading (default: the operating system user)"),
        _opt("--dry-run", action="store_true",
             help="check the files and print what the load would add, replace and change "
                  "(values, KPI states); write nothing"),
    ]),
    "loads": ("list the load history", cmd_loads, []),
    "migrate": ("upgrade the database (and its users and audit log) to this version's "
                "schema", cmd_migrate, []),
    "copy": ("copy a whole database (data, users, audit log) into an empty one: a DuckDB "
             "file to PostgreSQL or back", cmd_copy, [
        _opt("--from", dest="source", required=True, metavar="PATH|URL"),
        _opt("--to", dest="target", required=True, metavar="PATH|URL"),
    ]),
    "rollback": ("restore the state before a load", cmd_rollback, [
        _opt("load_id", type=int, metavar="LOAD_ID"),
    ]),
    "template": ("write a blank wide monthly return", cmd_template, [
        _FORCE,
        _opt("--from", dest="start", required=True, type=_month, metavar="YYYY-MM"),
        _opt("--to", dest="end", required=True, type=_month, metavar="YYYY-MM"),
        _opt("--out", required=True, type=Path, metavar="FILE.xlsx|.csv"),
    ]),
    "catalogue": ("check or load the KPI catalogue", cmd_catalogue, {
        "check": ("validate a catalogue file", [_CATALOGUE_FILE]),
        "load": ("validate and load a catalogue file", [_CATALOGUE_FILE]),
        "export": ("write the database's catalogue (every version, drafts included) as "
                   "YAML", [_opt("--out", type=Path, metavar="FILE",
                                 help="write here (default: stdout)")]),
    }),
    "peer-groups": ("load 'most similar group' peer groups", cmd_peer_groups, [
        _opt("file", type=Path, metavar="FILE",
             help="CSV with columns group,force (force as slug or name)"),
    ]),
    "kpis": ("compute KPIs and write them as CSV or JSON", cmd_kpis, [
        # "extend" with nargs="+": both --kpi a b and --kpi a --kpi b work.
        _opt("--kpi", action="extend", nargs="+", metavar="ID", help="KPI id(s) (repeatable)"),
        _opt("--force", action="extend", nargs="+", metavar="SLUG",
             help="force slug(s), england-and-wales or peer group ids (repeatable)"),
        _opt("--from", dest="start", type=_month, metavar="YYYY-MM"),
        _opt("--to", dest="end", type=_month, metavar="YYYY-MM"),
        _opt("--baseline", type=_baseline, default="nom",
             metavar="nom|all|first:N",
             help="where SPC limits come from (default: nom, as the dashboard: re-based at "
                  "each force's NOM adoption; all: whole series; first:N: the first N "
                  "points)"),
        _marking("on every row", by_source=True),
        _suppress(" (counts 1-4 and rates built on them hidden)"),
        _opt("--format", choices=("csv", "json", "xlsx"), default="csv",
             help="csv (one header row), json, or xlsx (with a Notes sheet; needs --out)"),
        _opt("--out", type=Path, metavar="FILE", help="write here (default: stdout)"),
    ]),
    "export": ("write a board pack (PowerPoint, PDF or Word) for a force and period",
               cmd_export, [
        _FORCE,
        _opt("--period", required=True, type=_month, metavar="YYYY-MM",
             help="the pack's period (each KPI's latest on or before it)"),
        _opt("--format", required=True, choices=("pptx", "pdf", "docx")),
        _opt("--pillar", action="extend", nargs="+", type=int, metavar="N",
             help="only KPIs of these pillars, 1-6 (repeatable; default: all)"),
        _opt("--kpi", action="extend", nargs="+", metavar="ID",
             help="only these KPIs (repeatable; default: all published)"),
        _marking("on every page"),
        _suppress(" to every number and chart"),
        _opt("--full", action="store_true",
             help="a chart page for every KPI (default: the summary, what needs attention "
                  "and the charts of the most severe exceptions, at most 20 pages)"),
        _opt("--template", type=Path, metavar="FILE",
             help="a force's own PowerPoint (.pptx, .potx) or Word (.docx, .dotx) "
                  "template whose layouts and styles the pack uses"),
        _opt("--pictures", action="store_true",
             help="PowerPoint charts as pictures, not native editable charts"),
        _OUT,
    ]),
    "chart": ("write one KPI's SPC chart as PNG, SVG, PDF or CSV", cmd_chart, [
        _opt("--kpi", required=True, metavar="ID"),
        _FORCE,
        _opt("--period", required=True, type=_month, metavar="YYYY-MM",
             help="the last period on the chart"),
        _opt("--format", required=True, choices=("png", "svg", "pdf", "csv", "xlsx")),
        _marking("on the chart", by_source=True),
        _suppress(" (suppressed points are not drawn)"),
        _OUT,
    ]),
    "users": ("manage sign-in accounts (admins)", cmd_users, {
        "add": ("add an account (asks for the password)", [
            _USERNAME,
            _opt("--role", required=True, choices=ROLES,
                 help="viewer (read), analyst (load, comment, export) or admin"),
            _ACCOUNT_FORCE,
            _opt("--display-name", default="", metavar="TEXT",
                 help="the name shown on commentary and in the audit log"),
            _opt("--sso-only", action="store_true",
                 help="no password: signs in only through the single sign-on proxy"),
            _PASSWORD_STDIN,
        ]),
        "remove": ("remove an account", [_USERNAME]),
        "list": ("list the accounts", []),
        "set-password": ("set an account's password", [_USERNAME, _PASSWORD_STDIN]),
        "set-role": ("change an account's role or force", [
            _USERNAME, _opt("role", choices=ROLES), _ACCOUNT_FORCE,
        ]),
    }),
    "adoption": ("load or list the forces' NOM adoption months (admins)", cmd_adoption, {
        "load": ("validate and load NOM adoption months from a CSV file (all or none)", [
            _opt("file", type=Path, metavar="FILE",
                 help="CSV with columns force (slug or name) and adoption_month (YYYY-MM; "
                      "empty clears it)"),
        ]),
        "list": ("list each force's NOM adoption month (or 'not known')", []),
    }),
    "populations": ("load or list ONS mid-year population estimates (admins)",
                    cmd_populations, {
        "load": ("validate and load population estimates; each year given replaces "
                 "that year's", [
            _opt("file", type=Path, metavar="FILE",
                 help="the ONS police force area estimates (XLSX or CSV), or a CSV with "
                      "columns force,year,population"),
        ]),
        "list": ("list the population estimates loaded, by year and force", []),
    }),
    "subscriptions": ("board packs by email: subscriptions (admins) and sending",
                      cmd_subscriptions, {
        "list": ("list the subscriptions and the latest month sent to each", []),
        "add": ("subscribe an account to a force's monthly board pack", [
            _USERNAME,
            _opt("--force", required=True, metavar="SLUG",
                 help="the force (a force-scoped account: its own)"),
            _opt("--format", required=True, choices=SUBSCRIPTION_FORMATS),
            _opt("--email", metavar="ADDRESS",
                 help="where the packs go (default: the address the account has)"),
        ]),
        "remove": ("end an account's subscription to a force's board pack", [
            _USERNAME, _opt("--force", required=True, metavar="SLUG"),
        ]),
        "send": ("send every board pack that is due (for cron)", [
            _opt("--dry-run", type=Path, metavar="DIR",
                 help="write each message to DIR as a .eml file instead; nothing is "
                      "recorded as sent"),
        ]),
    }),
    "tokens": ("API tokens for the data feeds (admins)", cmd_tokens, {
        "list": ("list the API tokens in use: id, account, name, made, last used", [
            _opt("username", nargs="?", metavar="NAME", help="only this account's"),
            _opt("--all", action="store_true", help="revoked tokens too"),
        ]),
        "create": ("make an API token for an account's feeds; it is printed once", [
            _USERNAME,
            _opt("--label", default="command line", metavar="TEXT",
                 help="what the token is for, e.g. 'Power BI monthly report'"),
        ]),
        "revoke": ("revoke an API token: it stops working at once", [
            _opt("token_id", metavar="TOKEN_ID", help="the id 'tokens list' shows"),
        ]),
    }),
    "audit": ("print the audit log (newest first)", cmd_audit, [
        _opt("--limit", type=int, default=100, metavar="N", help="how many events (default: 100)"),
        _opt("--event", choices=EVENTS, help="only events of this kind"),
        _opt("--prune", action="store_true",
             help="delete the events older than the retention period instead "
                  "($FLIGHTDECK_AUDIT_RETENTION_DAYS, or --days; for cron); audited"),
        _opt("--days", type=int, metavar="N",
             help="with --prune: the retention period in days (beats the setting)"),
    ]),
    "serve": ("serve the dashboard", cmd_serve, [
        _opt("--host", help="address to listen on (default: $FLIGHTDECK_HOST, else 127.0.0.1)"),
        _opt("--port", type=int, help="port (default: $FLIGHTDECK_PORT, else 8050)"),
        _opt("--debug", action="store_true", help="Dash dev tools (never in production)"),
    ]),
    "worker": ("run an export worker: board packs sent through $FLIGHTDECK_REDIS_URL "
               "(national mode)", cmd_worker, [
        _opt("--concurrency", type=_at_least_one, default=2, metavar="N",
             help="packs built at once, one process each with its own warm renderer "
                  "(default: 2)"),
        _opt("--pool", choices=("prefork", "solo"), default="prefork",
             help="prefork: N processes (default); solo: one job at a time in this "
                  "process"),
        # kpis.celery_jobs.DEFAULT_QUEUE (not imported for --help; a test keeps them equal)
        _opt("--queue", default="flightdeck", metavar="NAME",
             help="the Redis queue to take jobs from (default: flightdeck, where the web "
                  "app sends them)"),
    ]),
}

if __name__ == "__main__":
    raise SystemExit(main())
