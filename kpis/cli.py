"""``flightdeck``: the analysts' command line.

Build demonstration data, load files, roll back a load, write a blank return
template, reload the KPI catalogue, compute KPIs to CSV or JSON, and serve the
dashboard. Every command takes ``--db PATH`` (default: $FLIGHTDECK_DB, else
data/flightdeck.duckdb).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kpis.domain.access import ROLES, Principal, Role
from kpis.domain.periods import format_month, last_complete_month, parse_month
from kpis.settings import CATALOGUE_FILE, resolve_db_path
from kpis.storage.security import EVENTS, EXPORT, UserError

if TYPE_CHECKING:
    from kpis.service import FlightDeckService


def _month(text: str) -> dt.date:
    try:
        return parse_month(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH",
        help="DuckDB file (default: $FLIGHTDECK_DB, else data/flightdeck.duckdb)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flightdeck",
        description="NOM flight deck: RASSO performance measures for police forces in "
        "England and Wales.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="build a complete demonstration database")
    _add_db(demo)
    demo.add_argument("--end", type=_month, metavar="YYYY-MM",
                      help="last month of data (default: the last complete month)")
    demo.add_argument("--seed", type=int, default=None, metavar="N",
                      help="random seed (same seed and end month give identical data)")

    load = commands.add_parser("load", help="validate and load files (all or none)")
    _add_db(load)
    load.add_argument("files", nargs="+", type=Path, metavar="FILE")
    load.add_argument("--kind", choices=("return", "ho-outcomes", "ho-recorded"),
                      help="file kind (default: detected from the headers)")
    load.add_argument("--user", help="who is loading (default: the operating system user)")

    loads = commands.add_parser("loads", help="list the load history")
    _add_db(loads)

    rollback = commands.add_parser("rollback", help="restore the state before a load")
    _add_db(rollback)
    rollback.add_argument("load_id", type=int, metavar="LOAD_ID")

    template = commands.add_parser("template", help="write a blank wide monthly return")
    _add_db(template)
    template.add_argument("--force", required=True, metavar="SLUG")
    template.add_argument("--from", dest="start", required=True, type=_month, metavar="YYYY-MM")
    template.add_argument("--to", dest="end", required=True, type=_month, metavar="YYYY-MM")
    template.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx|.csv")

    catalogue = commands.add_parser("catalogue", help="check or load the KPI catalogue")
    catalogue_commands = catalogue.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = catalogue_commands.add_parser("check", help="validate a catalogue file")
    check.add_argument("--file", type=Path, default=CATALOGUE_FILE, metavar="FILE")
    install = catalogue_commands.add_parser("load", help="validate and load a catalogue file")
    _add_db(install)
    install.add_argument("--file", type=Path, default=CATALOGUE_FILE, metavar="FILE")

    peers = commands.add_parser("peer-groups", help="load 'most similar group' peer groups")
    _add_db(peers)
    peers.add_argument("file", type=Path, metavar="FILE",
                       help="CSV with columns group,force (force as slug or name)")

    kpis = commands.add_parser("kpis", help="compute KPIs and write them as CSV or JSON")
    _add_db(kpis)
    # "extend" with nargs="+": both --kpi a b and --kpi a --kpi b work.
    kpis.add_argument("--kpi", action="extend", nargs="+", metavar="ID",
                      help="KPI id(s) (repeatable)")
    kpis.add_argument("--force", action="extend", nargs="+", metavar="SLUG",
                      help="force slug(s), england-and-wales or peer group ids (repeatable)")
    kpis.add_argument("--from", dest="start", type=_month, metavar="YYYY-MM")
    kpis.add_argument("--to", dest="end", type=_month, metavar="YYYY-MM")
    kpis.add_argument("--suppress", action="store_true",
                      help="apply disclosure control (counts 1-4 and rates built on them hidden)")
    kpis.add_argument("--format", choices=("csv", "json"), default="csv")
    kpis.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")

    export = commands.add_parser(
        "export", help="write a board pack (PowerPoint, PDF or Word) for a force and period")
    _add_db(export)
    export.add_argument("--force", required=True, metavar="SLUG")
    export.add_argument("--period", required=True, type=_month, metavar="YYYY-MM",
                        help="the pack's period (each KPI's latest on or before it)")
    export.add_argument("--format", required=True, choices=("pptx", "pdf", "docx"))
    export.add_argument("--pillar", action="extend", nargs="+", type=int, metavar="N",
                        help="only KPIs of these pillars, 1-6 (repeatable; default: all)")
    export.add_argument("--kpi", action="extend", nargs="+", metavar="ID",
                        help="only these KPIs (repeatable; default: all published)")
    export.add_argument("--marking", default="OFFICIAL-SENSITIVE", metavar="TEXT",
                        help="protective marking on every page (default: OFFICIAL-SENSITIVE)")
    export.add_argument("--suppress", action="store_true",
                        help="apply disclosure control to every number and chart")
    export.add_argument("--out", required=True, type=Path, metavar="FILE")

    chart = commands.add_parser("chart", help="write one KPI's SPC chart as PNG, SVG, PDF or CSV")
    _add_db(chart)
    chart.add_argument("--kpi", required=True, metavar="ID")
    chart.add_argument("--force", required=True, metavar="SLUG")
    chart.add_argument("--period", required=True, type=_month, metavar="YYYY-MM",
                       help="the last period on the chart")
    chart.add_argument("--format", required=True, choices=("png", "svg", "pdf", "csv"))
    chart.add_argument("--marking", default="OFFICIAL-SENSITIVE", metavar="TEXT",
                       help="protective marking on the chart (default: OFFICIAL-SENSITIVE)")
    chart.add_argument("--suppress", action="store_true",
                       help="apply disclosure control (suppressed points are not drawn)")
    chart.add_argument("--out", required=True, type=Path, metavar="FILE")

    users = commands.add_parser("users", help="manage sign-in accounts (admins)")
    user_commands = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add an account (asks for the password)")
    _add_db(add)
    add.add_argument("username", metavar="NAME")
    add.add_argument("--role", required=True, choices=ROLES,
                     help="viewer (read), analyst (load, comment, export) or admin")
    add.add_argument("--force", metavar="SLUG",
                     help="limit the account to one force (default: every force)")
    add.add_argument("--display-name", default="", metavar="TEXT",
                     help="the name shown on commentary and in the audit log")
    add.add_argument("--sso-only", action="store_true",
                     help="no password: signs in only through the single sign-on proxy")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of asking")
    remove = user_commands.add_parser("remove", help="remove an account")
    _add_db(remove)
    remove.add_argument("username", metavar="NAME")
    listing = user_commands.add_parser("list", help="list the accounts")
    _add_db(listing)
    password = user_commands.add_parser("set-password", help="set an account's password")
    _add_db(password)
    password.add_argument("username", metavar="NAME")
    password.add_argument("--password-stdin", action="store_true",
                          help="read the password from standard input instead of asking")
    role = user_commands.add_parser("set-role", help="change an account's role or force")
    _add_db(role)
    role.add_argument("username", metavar="NAME")
    role.add_argument("role", choices=ROLES)
    role.add_argument("--force", metavar="SLUG",
                      help="limit the account to one force (default: every force)")

    audit = commands.add_parser("audit", help="print the audit log (newest first)")
    _add_db(audit)
    audit.add_argument("--limit", type=int, default=100, metavar="N",
                       help="how many events (default: 100)")
    audit.add_argument("--event", choices=EVENTS, help="only events of this kind")

    serve = commands.add_parser("serve", help="serve the dashboard")
    _add_db(serve)
    serve.add_argument("--host", help="address to listen on (default: $FLIGHTDECK_HOST, "
                       "else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: $FLIGHTDECK_PORT, else 8050)")
    serve.add_argument("--debug", action="store_true",
                       help="Dash dev tools (never in production)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _HANDLERS[args.command]
    from kpis.storage.backend import StoreError

    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except StoreError as problem:  # e.g. a database written by a newer flight deck
        print(f"flightdeck: {problem}", file=sys.stderr)
        return 1


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from kpis.ingest.demo import DEFAULT_SEED, build_demo

    db = resolve_db_path(args.db)
    end = args.end or last_complete_month()
    print(f"Building demonstration data to {format_month(end)} in {db}", file=sys.stderr)
    build_demo(db, end=end, seed=args.seed if args.seed is not None else DEFAULT_SEED,
               progress=_progress)
    return 0


def _operator(name: str | None = None) -> Principal:
    """Whoever runs the command line: every force (they can read the file anyway), named
    in the audit log by their operating system account."""
    user = name or getpass.getuser()
    return Principal(username=f"{user} (command line)", role=Role.ADMIN, display_name=user)


def cmd_load(args: argparse.Namespace) -> int:
    from kpis.ingest.problems import LoadRefused
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    service = FlightDeckService(db, _operator(args.user))
    try:
        result = service.load(args.files, kind=args.kind)
    except LoadRefused as refused:
        print(str(refused), file=sys.stderr)
        for finding in refused.report.warnings[:50]:
            print(f"  {finding}", file=sys.stderr)
        return 1
    for finding in result.report.warnings:
        print(f"  {finding}", file=sys.stderr)
    for what, count in sorted(result.report.ignored.items()):
        print(f"  ignored {count} row(s) {what}", file=sys.stderr)
    print(f"loaded {len(args.files)} file(s) as load(s) {', '.join(map(str, result.load_ids))}: "
          f"{result.observations} observations, {len(result.report.warnings)} warning(s)")
    return 0


def cmd_loads(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from kpis.storage import schema
    from kpis.storage.backend import open_store

    db = resolve_db_path(args.db)
    store = open_store(db)
    if not store.exists():
        print(f"no database at {db}", file=sys.stderr)
        return 1
    with store:
        table = store.frame(sa.select(schema.loads).order_by(schema.loads.c.load_id))
    if table.empty:
        print("no loads yet")
        return 0
    print(table.to_string(index=False))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from kpis.ingest.loader import RollbackRefused
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    try:
        changed = FlightDeckService(db, _operator()).rollback(args.load_id)
    except RollbackRefused as refused:
        print(f"rollback refused: {refused}", file=sys.stderr)
        return 1
    print(f"rolled back load {args.load_id}: {changed} observation(s) removed or restored")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from kpis.domain.catalogue import read_catalogue
    from kpis.ingest.context import context_from
    from kpis.ingest.template import write_template
    from kpis.storage.reference import read_forces

    if args.end < args.start:
        print("--to is before --from", file=sys.stderr)
        return 2
    slugs = frozenset(str(f["slug"]) for f in read_forces())
    if args.force not in slugs:
        print(f"unknown force {args.force!r}; use a slug such as 'kent'", file=sys.stderr)
        return 2
    ctx = context_from(read_catalogue(CATALOGUE_FILE), {s: s for s in slugs}, slugs,
                       dt.date.today())
    write_template(args.out, ctx, args.force, args.start, args.end)
    print(f"wrote {args.out}")
    return 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    from kpis.domain.catalogue import CatalogueError, read_catalogue
    from kpis.storage.database import reload_catalogue

    try:
        if args.action == "check":
            catalogue = read_catalogue(args.file)
        else:
            catalogue = reload_catalogue(resolve_db_path(args.db), args.file)
    except CatalogueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    published = catalogue.published()
    verb = "valid" if args.action == "check" else "loaded"
    print(f"{args.file}: {verb}: {len(catalogue.kpis)} KPI definitions "
          f"({len(published)} published), {len(catalogue.measures)} measures")
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
        print(str(exc), file=sys.stderr)
        return 1
    print(f"loaded {count} peer group(s) from {args.file}")
    return 0


def cmd_kpis(args: argparse.Namespace) -> int:
    from kpis.exports.kpi_csv import kpi_table_for_cli, write_table
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if not db.exists():
        print(f"no database at {db}: run 'flightdeck demo' or 'flightdeck load' first",
              file=sys.stderr)
        return 1
    dataset = FlightDeckService(db).dataset()
    try:
        table = kpi_table_for_cli(dataset, args.kpi, args.force, args.start, args.end,
                                  args.suppress)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            write_table(table, handle, args.format)
    else:
        write_table(table, sys.stdout, args.format)
    return 0


def _export(args: argparse.Namespace, write: Callable[[FlightDeckService], Path]) -> int:
    """Run an export over the database, turning known failures into exit codes:
    1 no database, 2 unknown force, KPI or pillar (or a bad value), 3 no renderer."""
    from kpis.exports.render import RendererUnavailable
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if not db.exists():
        print(f"no database at {db}: run 'flightdeck demo' first", file=sys.stderr)
        return 1
    service = FlightDeckService(db, _operator())
    try:
        out = write(service)
        service.audit(EXPORT, f"{out.name} ({getattr(args, 'force', '')}, "
                              f"{getattr(args, 'period', '')})")
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RendererUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(f"wrote {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from kpis.exports.packs import build_pack
    from kpis.storage.annotations import all_commentary

    return _export(args, lambda service: build_pack(
        service, args.force, args.period, args.format, pillars=args.pillar, kpis=args.kpi,
        marking=args.marking, suppress=args.suppress, out=args.out, progress=_progress,
        commentary=all_commentary(service.reader, args.force, args.period)))


def cmd_chart(args: argparse.Namespace) -> int:
    from kpis.charts.specs import spc_export
    from kpis.exports.charts import write_chart

    return _export(args, lambda service: write_chart(
        spc_export(service, args.kpi, args.force, args.period, marking=args.marking,
                   suppress=args.suppress),
        args.format, args.out))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise UserError("The two passwords differ.")
    return first


def _known_forces(db: Path) -> list[str] | None:
    from kpis.storage.reference import read_forces

    return [str(f["slug"]) for f in read_forces()]


def cmd_users(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    db = resolve_db_path(args.db)
    store = SecurityStore(security_db_path(db))
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
                           actor=actor, known_forces=_known_forces(db))
            print(f"added {args.username} ({args.role}, {args.force or 'all forces'})")
        elif args.action == "remove":
            store.remove_user(args.username, actor=actor)
            print(f"removed {args.username}")
        elif args.action == "set-password":
            store.set_password(args.username, _password(args.password_stdin), actor=actor)
            print(f"password set for {args.username}; their sessions have ended")
        else:
            store.set_role(args.username, args.role, args.force, actor=actor,
                           known_forces=_known_forces(db))
            print(f"{args.username} is now {args.role} ({args.force or 'all forces'}); "
                  "their sessions have ended")
    except UserError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from kpis.storage.security import SecurityStore, security_db_path

    store = SecurityStore(security_db_path(resolve_db_path(args.db)))
    events = store.events(limit=args.limit, event=args.event)
    store.close()
    if not events:
        print("the audit log is empty")
    for e in events:
        print(f"{e.occurred_at:%Y-%m-%d %H:%M:%S}\t{e.event}\t{e.username}\t{e.address}"
              f"\t{e.detail}")
    return 0


#: Subcommands whose handler lives outside kpis (the web app: kpis never imports it),
#: found through this entry point group (pyproject.toml: serve = "app:serve_command").
COMMANDS_GROUP = "flightdeck.commands"


def _plugin_command(name: str) -> Callable[[argparse.Namespace], int] | None:
    """The handler a package registered for ``flightdeck NAME``, or None if none is."""
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=COMMANDS_GROUP, name=name):
        return entry_point.load()
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    handler = _plugin_command("serve")
    if handler is None:
        print(f"flightdeck serve: the web app is not installed (no {COMMANDS_GROUP!r} entry "
              "point named 'serve'). Install the project, e.g. "
              "'.venv/bin/pip install -e .' from its folder, or run 'python app.py'.",
              file=sys.stderr)
        return 2
    return handler(args)


_HANDLERS = {
    "demo": cmd_demo,
    "load": cmd_load,
    "loads": cmd_loads,
    "rollback": cmd_rollback,
    "template": cmd_template,
    "catalogue": cmd_catalogue,
    "peer-groups": cmd_peer_groups,
    "kpis": cmd_kpis,
    "export": cmd_export,
    "chart": cmd_chart,
    "users": cmd_users,
    "audit": cmd_audit,
    "serve": cmd_serve,
}

if __name__ == "__main__":
    raise SystemExit(main())
