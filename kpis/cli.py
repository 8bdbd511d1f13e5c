"""``flightdeck``: the analysts' command line.

Build demonstration data, load files, roll back a load, write a blank return
template, reload the KPI catalogue, compute KPIs to CSV or JSON, and serve the
dashboard. Every command takes ``--db PATH`` (default: $FLIGHTDECK_DB, else
data/flightdeck.duckdb).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kpis.config import CATALOGUE_FILE, resolve_db_path
from kpis.periods import format_month, last_complete_month, parse_month

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
    kpis.add_argument("--kpi", action="append", metavar="ID", help="KPI id (repeatable)")
    kpis.add_argument("--force", action="append", metavar="SLUG",
                      help="force slug, england-and-wales or a peer group id (repeatable)")
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
    export.add_argument("--pillar", action="append", type=int, metavar="N",
                        help="only KPIs of this pillar, 1-6 (repeatable; default: all)")
    export.add_argument("--kpi", action="append", metavar="ID",
                        help="only this KPI (repeatable; default: all published)")
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

    serve = commands.add_parser("serve", help="serve the dashboard")
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    serve.add_argument("--debug", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = _HANDLERS[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from kpis.demo import DEFAULT_SEED, build_demo

    db = resolve_db_path(args.db)
    end = args.end or last_complete_month()
    print(f"Building demonstration data to {format_month(end)} in {db}", file=sys.stderr)
    build_demo(db, end=end, seed=args.seed if args.seed is not None else DEFAULT_SEED,
               progress=_progress)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from kpis.ingest.loader import load_files
    from kpis.ingest.problems import LoadRefused

    db = resolve_db_path(args.db)
    try:
        result = load_files(db, args.files, kind=args.kind, user=args.user)
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

    from kpis import schema
    from kpis.store import Reader

    db = resolve_db_path(args.db)
    if not db.exists():
        print(f"no database at {db}", file=sys.stderr)
        return 1
    table = Reader(db).frame(sa.select(schema.loads).order_by(schema.loads.c.load_id))
    if table.empty:
        print("no loads yet")
        return 0
    print(table.to_string(index=False))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from kpis.ingest.loader import RollbackRefused, rollback

    db = resolve_db_path(args.db)
    try:
        changed = rollback(db, args.load_id)
    except RollbackRefused as refused:
        print(f"rollback refused: {refused}", file=sys.stderr)
        return 1
    print(f"rolled back load {args.load_id}: {changed} observation(s) removed or restored")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from kpis.catalogue import read_catalogue
    from kpis.ingest.context import context_from
    from kpis.ingest.template import write_template
    from kpis.reference import read_forces

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
    from kpis.catalogue import CatalogueError, read_catalogue
    from kpis.database import reload_catalogue

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
    from kpis.database import initialise, is_initialised
    from kpis.reference import PeerGroupError, store_peer_groups
    from kpis.store import write_transaction

    try:
        with write_transaction(resolve_db_path(args.db)) as conn:
            if not is_initialised(conn):
                initialise(conn)
            count = store_peer_groups(conn, args.file)
    except PeerGroupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"loaded {count} peer group(s) from {args.file}")
    return 0


def cmd_kpis(args: argparse.Namespace) -> int:
    from kpis.report import kpi_table_for_cli, write_table
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
    from kpis.export.render import RendererUnavailable
    from kpis.service import FlightDeckService

    db = resolve_db_path(args.db)
    if not db.exists():
        print(f"no database at {db}: run 'flightdeck demo' first", file=sys.stderr)
        return 1
    try:
        out = write(FlightDeckService(db))
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
    from kpis.annotations import all_commentary
    from kpis.export.packs import build_pack

    return _export(args, lambda service: build_pack(
        service, args.force, args.period, args.format, pillars=args.pillar, kpis=args.kpi,
        marking=args.marking, suppress=args.suppress, out=args.out, progress=_progress,
        commentary=all_commentary(service.reader, args.force, args.period)))


def cmd_chart(args: argparse.Namespace) -> int:
    from kpis.export.charts import spc_export, write_chart

    return _export(args, lambda service: write_chart(
        spc_export(service, args.kpi, args.force, args.period, marking=args.marking,
                   suppress=args.suppress),
        args.format, args.out))


def cmd_serve(args: argparse.Namespace) -> int:
    import app as webapp

    webapp.serve(resolve_db_path(args.db), host=args.host, port=args.port, debug=args.debug)
    return 0


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
    "serve": cmd_serve,
}

if __name__ == "__main__":
    raise SystemExit(main())
