"""Demonstration data: a complete, deterministic, clearly labelled database.

The generator writes files in the real layouts (a wide force monthly return, a Home
Office outcomes table and a police force area recorded-crime table) and loads them
through the same validated path as real data, so the demo exercises the ingest.
Same seed and end month give identical table contents.

Realism, scaled by each force's population: national recorded rape of roughly
58,000-70,000 a year, rising; rape charge/summons rate near 1.3% before the NOM,
rising after each force adopts it (pathfinders 2021, all forces by July 2023);
victim-does-not-support share near 40% falling to the low 30s; seasonality, noise,
and a few forces with a real step change so SPC has something to find.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from kpis.domain.periods import (
    add_months,
    financial_quarter,
    financial_year_label,
    last_complete_month,
    month_range,
    quarter_start,
)
from kpis.ingest.loader import load_files
from kpis.settings import FORCES_CSV, Location, as_location
from kpis.storage import schema
from kpis.storage.backend import get_meta, open_store, set_meta
from kpis.storage.reference import read_forces

DEMO_START = dt.date(2019, 4, 1)
DEFAULT_SEED = 2023
PATHFINDERS = ("avon-and-somerset", "metropolitan", "durham", "west-midlands", "south-wales")
PATHFINDER_ADOPTION = dt.date(2021, 6, 1)
ALL_ADOPTED = dt.date(2023, 7, 1)
# Forces given a sudden, lasting improvement (a new RASSO unit, say) for SPC to find.
STEP_CHANGE_FORCES = ("lancashire", "kent", "northumbria", "gwent")
STEP_CHANGE_MONTH = dt.date(2024, 1, 1)

RAPE_CODE_SHARES = {"19C": 0.55, "19D": 0.12, "19E": 0.10, "19F": 0.10, "19G": 0.07, "19H": 0.06}
OSO_CODE_SHARES = {"17A": 0.15, "20A": 0.35, "20B": 0.15, "23": 0.35}
RAPE_DESCRIPTIONS = {
    "19C": "Rape of a female aged 16 and over", "19D": "Rape of a female aged under 16",
    "19E": "Rape of a female child under 13", "19F": "Rape of a male aged 16 and over",
    "19G": "Rape of a male aged under 16", "19H": "Rape of a male child under 13",
}
# Home Office spelling varies; the demo uses some variants so loading them is exercised.
HO_NAME_VARIANTS = {
    "metropolitan": "Metropolitan Police Service", "devon-and-cornwall": "Devon & Cornwall",
    "avon-and-somerset": "Avon & Somerset", "city-of-london": "London, City of",
    "dyfed-powys": "Dyfed Powys",
}
OUTCOMES_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Description", "Offence Group",
    "Offence Subgroup", "Offence Code", "Outcome Description", "Outcome Group", "Outcome Type",
    "Force outcomes for offences recorded in quarter",
    "Force outcomes for offences investigations closed in quarter",
]
RECORDED_HEADER = [
    "Financial Year", "Financial Quarter", "Force Name", "Offence Description", "Offence Group",
    "Offence Subgroup", "Offence Code", "Number of Offences",
]

# Every force-return measure the generator produces, in catalogue order.
RETURN_MEASURES = (
    "rape_reports", "reports_named_suspect", "suspect_arrested_interviewed_30d",
    "cps_referrals", "cps_charge_decisions", "charges_total", "charges_within_365d",
    "open_investigations", "open_investigations_over_12m", "repeat_suspects_identified",
    "repeat_suspects_active", "repeat_suspects_with_plan", "bail_breaches_recorded",
    "bail_breaches_responded", "order_applications", "order_grants",
    "order_breaches_recorded", "order_breaches_actioned", "s63g_applications",
    "s63g_granted", "victim_withdrawals_30d", "isva_referrals", "vcop_cases_audited",
    "vcop_cases_compliant", "rasso_investigators", "investigators_accredited_or_pathway",
    "rasso_staff", "staff_trained_word_on_word", "staff_trained_nom_orders",
    "sickness_days", "abstraction_days", "devices_returned", "device_return_days",
    "devices_awaiting_examination", "cases_digital_reviewed", "cases_digital_strategy",
)

Progress = Callable[[str], None]


def adoption_month(slug: str, index: int) -> dt.date:
    """When each force adopted the NOM: pathfinders 2021, 19 early adopters, the rest July 2023."""
    if slug in PATHFINDERS:
        return PATHFINDER_ADOPTION
    if index % 2 == 0 and index < 40:  # 19 or so early adopters, staggered through 2022
        return add_months(dt.date(2022, 4, 1), (index * 7) % 10)
    return ALL_ADOPTED


def _ramp(months: list[dt.date], start: dt.date, per_month: float, cap: float) -> np.ndarray:
    """0 before ``start``, then rising by ``per_month`` to at most ``cap``."""
    elapsed = np.array([(m.year - start.year) * 12 + m.month - start.month for m in months])
    return np.clip(elapsed * per_month, 0, cap) * (elapsed >= 0)


def _step(months: list[dt.date], at: dt.date) -> np.ndarray:
    return np.array([1.0 if m >= at else 0.0 for m in months])


def _binomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    return rng.binomial(n.astype(np.int64), np.clip(p, 0, 1))


def force_months(
    slug: str, index: int, population: int, months: list[dt.date], seed: int
) -> dict[str, np.ndarray]:
    """Every monthly quantity for one force: the local return and monthly rape counts."""
    rng = np.random.default_rng([seed, index])
    adopted = adoption_month(slug, index)
    nom = _ramp(months, adopted, 1 / 24, 1.0)  # 0 -> 1 over two years after adoption
    step = _step(months, STEP_CHANGE_MONTH) if slug in STEP_CHANGE_FORCES else np.zeros(len(months))
    fy = np.array([m.year + (m.month - 4) / 12 for m in months]) - 2019.25
    season = 1 + 0.08 * np.sin(2 * np.pi * (np.array([m.month for m in months]) - 4) / 12)
    annual_rate = 0.97e-3 + np.clip(fy, 0, 4.5) * 0.045e-3
    force_factor = 0.8 + 0.4 * rng.random()  # forces differ in recording practice
    rape = rng.poisson(population * annual_rate / 12 * season * force_factor)
    people = population / 1e5 * np.ones(len(months))
    out: dict[str, np.ndarray] = {"rape": rape}
    out["rape_reports"] = rape
    out["reports_named_suspect"] = _binomial(rng, rape, 0.7 + 0.05 * nom)
    out["suspect_arrested_interviewed_30d"] = _binomial(
        rng, out["reports_named_suspect"], 0.45 + 0.2 * nom + 0.15 * step)
    out["cps_referrals"] = rng.poisson(rape * (0.06 + 0.04 * nom + 0.03 * step))
    out["cps_charge_decisions"] = _binomial(rng, out["cps_referrals"], 0.55 + 0.15 * nom)
    out["charges_total"] = out["cps_charge_decisions"]
    out["charges_within_365d"] = _binomial(rng, out["charges_total"], 0.3 + 0.15 * nom)
    out["open_investigations"] = rng.poisson(rape * (8 - 1.5 * nom))
    out["open_investigations_over_12m"] = _binomial(
        rng, out["open_investigations"], 0.25 - 0.07 * nom - 0.05 * step)
    new_definition = _step(months, dt.date(2023, 7, 1))
    out["repeat_suspects_identified"] = rng.poisson(people * (0.05 + 0.25 * new_definition))
    out["repeat_suspects_active"] = rng.poisson(people * (0.5 + 1.5 * new_definition)) + 1
    out["repeat_suspects_with_plan"] = _binomial(
        rng, out["repeat_suspects_active"], 0.5 + 0.4 * nom)
    out["bail_breaches_recorded"] = rng.poisson(people * 0.4)
    out["bail_breaches_responded"] = _binomial(
        rng, out["bail_breaches_recorded"], 0.75 + 0.2 * nom)
    out["order_applications"] = rng.poisson(people * (0.25 + 0.1 * nom))
    out["order_grants"] = _binomial(rng, out["order_applications"], 0.85)
    out["order_breaches_recorded"] = rng.poisson(people * 0.3)
    out["order_breaches_actioned"] = _binomial(
        rng, out["order_breaches_recorded"], 0.8 + 0.15 * nom)
    out["s63g_applications"] = rng.poisson(people * (0.1 + 0.15 * nom))
    out["s63g_granted"] = _binomial(rng, out["s63g_applications"], 0.7)
    out["victim_withdrawals_30d"] = _binomial(rng, rape, 0.22 - 0.06 * nom)
    out["isva_referrals"] = _binomial(rng, rape, 0.6 + 0.2 * nom)
    out["vcop_cases_audited"] = rng.poisson(20 + people * 0.3)
    out["vcop_cases_compliant"] = _binomial(rng, out["vcop_cases_audited"], 0.75 + 0.15 * nom)
    growth = 1 + 0.25 * nom
    out["rasso_investigators"] = np.maximum(1, np.round(people * 2.5 * growth)).astype(np.int64)
    out["investigators_accredited_or_pathway"] = _binomial(
        rng, out["rasso_investigators"], 0.6 + 0.32 * nom)
    out["rasso_staff"] = np.round(out["rasso_investigators"] * 1.3).astype(np.int64)
    trained = _ramp(months, dt.date(2024, 2, 1), 1 / 14, 0.97)
    out["staff_trained_word_on_word"] = _binomial(rng, out["rasso_staff"], 0.05 + trained * 0.95)
    out["staff_trained_nom_orders"] = _binomial(
        rng, out["rasso_staff"], 0.05 + _ramp(months, dt.date(2024, 4, 1), 1 / 16, 0.95))
    out["sickness_days"] = rng.poisson(out["rasso_staff"] * (0.9 - 0.2 * nom))
    out["abstraction_days"] = rng.poisson(out["rasso_staff"] * (0.6 - 0.3 * nom))
    out["devices_returned"] = rng.poisson(rape * 0.3) + 1
    mean_days = 120 - 50 * nom - 35 * step
    out["device_return_days"] = np.round(
        rng.gamma(out["devices_returned"] * 4.0, mean_days / 4.0)).astype(np.int64)
    out["devices_awaiting_examination"] = rng.poisson(people * (3 - 1.5 * nom))
    out["cases_digital_reviewed"] = rng.poisson(15 + people * 0.5)
    out["cases_digital_strategy"] = _binomial(rng, out["cases_digital_reviewed"], 0.5 + 0.35 * nom)
    out["nom"] = nom
    out["step"] = step
    return out


def _outcome_shares(nom: float, step: float, pending: float) -> dict[int, float]:
    """Share of closed-basis outcomes by type for a force-quarter."""
    shares = {
        1: 0.045 + 0.03 * nom + 0.02 * step,
        2: 0.004, 3: 0.006, 9: 0.01, 10: 0.01, 20: 0.02, 21: 0.03,
        14: 0.10 - 0.02 * nom,
        15: 0.25 - 0.03 * nom,
        16: 0.30 - 0.06 * nom,
        18: 0.08,
    }
    shares[22] = max(0.0, 1 - sum(shares.values()))
    return shares


def build_files(
    folder: Path, end: dt.date, seed: int, progress: Progress
) -> tuple[list[tuple[Path, dt.datetime]], dict[str, dt.date]]:
    """Write the demo files; return them with their arrival times, and adoption months."""
    forces = read_forces(FORCES_CSV)
    months = month_range(DEMO_START, end)
    # Home Office quarters: only complete quarters are published.
    quarters = sorted({quarter_start(m) for m in months if quarter_start(m) <= add_months(end, -2)})
    wide_rows: list[tuple[dt.date, bool, list[object]]] = []
    outcome_rows: list[list[object]] = []
    recorded_rows: list[list[object]] = []
    adoption: dict[str, dt.date] = {}
    measures = list(RETURN_MEASURES)
    for index, force in enumerate(forces):
        slug = str(force["slug"])
        population = int(force["population"])  # type: ignore[call-overload]
        adoption[slug] = adoption_month(slug, index)
        data = force_months(slug, index, population, months, seed)
        late = index % 14 == 3  # a few forces whose latest return has not arrived
        lateness = np.random.default_rng([seed, index, 7]).random(len(months))
        for i, month in enumerate(months):
            if late and month == end:
                continue
            row: list[object] = [slug, f"{month:%Y-%m}"]
            for measure in measures:
                blank = index % 11 == 5 and month == end and measure.startswith("vcop")
                row.append("" if blank else int(data[measure][i]))
            # About one return in twelve arrives after the due date.
            wide_rows.append((month, bool(lateness[i] < 0.08), row))
        rng = np.random.default_rng([seed, index, 99])
        name = HO_NAME_VARIANTS.get(slug, str(force["name"]))
        for quarter in quarters:
            idx = [i for i, m in enumerate(months) if quarter_start(m) == quarter]
            recorded = int(sum(data["rape"][i] for i in idx))
            nom = float(np.mean([data["nom"][i] for i in idx]))
            step = float(np.mean([data["step"][i] for i in idx]))
            age = (end.year - quarter.year) * 4 + (end.month - quarter.month) // 3
            pending = 0.05 + 0.55 * np.exp(-age / 3)
            charge = 0.013 + 0.022 * nom + 0.012 * step
            _quarter_rows(outcome_rows, recorded_rows, rng, name, quarter, recorded, pending,
                          charge, nom, step)
        progress(f"generated {force['name']} ({index + 1}/{len(forces)})")
    # Rows Home Office tables carry for bodies that are not territorial forces.
    for quarter in quarters[-2:]:
        for body in ("British Transport Police", "Action Fraud"):
            recorded_rows.append(_recorded_row(body, quarter, "19C", 3))
    folder.mkdir(parents=True, exist_ok=True)
    # Each month's returns arrive as a file a week after the month ends; the late ones
    # as a second file a month later, so the data page's coverage has a history.
    loads: list[tuple[Path, dt.datetime]] = []
    for month in months:
        for late, delay in ((False, 7), (True, 40)):
            rows = [r for m, is_late, r in wide_rows if m == month and is_late == late]
            if not rows:
                continue
            name = f"demo_return_{month:%Y-%m}{'_late' if late else ''}.csv"
            arrived = dt.datetime.combine(add_months(month, 1), dt.time(9, 0))
            loads.append((_write(folder / name, ["force", "month", *measures], rows),
                          arrived + dt.timedelta(days=delay)))
    published = dt.datetime.combine(add_months(end, 1), dt.time(9, 0)) + dt.timedelta(days=14)
    loads.append((_write(folder / "demo_ho_outcomes.csv", OUTCOMES_HEADER, outcome_rows),
                  published))
    loads.append((_write(folder / "demo_ho_recorded_crime.csv", RECORDED_HEADER,
                         recorded_rows), published))
    return loads, adoption


def _quarter_rows(
    outcome_rows: list[list[object]], recorded_rows: list[list[object]],
    rng: np.random.Generator, name: str, quarter: dt.date, recorded: int, pending: float,
    charge: float, nom: float, step: float,
) -> None:
    year, fq = financial_year_label(quarter), financial_quarter(quarter)
    codes = list(RAPE_CODE_SHARES)
    split = rng.multinomial(recorded, list(RAPE_CODE_SHARES.values()))
    closed_total = rng.poisson(recorded * 0.95)
    closed_split = rng.multinomial(closed_total, list(RAPE_CODE_SHARES.values()))
    shares = _outcome_shares(nom, step, pending)
    for code, n_recorded, n_closed in zip(codes, split, closed_split, strict=True):
        recorded_rows.append(_recorded_row(name, quarter, code, int(n_recorded)))
        pending_n = rng.binomial(n_recorded, pending)
        charged = rng.binomial(n_recorded - pending_n, charge / (1 - pending))
        rest = n_recorded - pending_n - charged
        types = [t for t in shares if t != 1]
        rest_split = rng.multinomial(rest, np.array([shares[t] for t in types]) /
                                     sum(shares[t] for t in types))
        by_type_recorded = {0: pending_n, 1: charged, **dict(zip(types, rest_split, strict=True))}
        closed_by_type = dict(zip(shares, rng.multinomial(
            n_closed, np.array(list(shares.values())) / sum(shares.values())), strict=True))
        for outcome in sorted(set(by_type_recorded) | set(closed_by_type)):
            outcome_rows.append([
                f"{year}", f"Q{fq}" if fq % 2 else str(fq), name, RAPE_DESCRIPTIONS[code],
                "Sexual offences", "Rape", code, f"Outcome {outcome}", "",
                str(outcome), int(by_type_recorded.get(outcome, 0)),
                int(closed_by_type.get(outcome, 0)),
            ])
    oso_total = rng.poisson(recorded * 1.9)
    for code, n in zip(OSO_CODE_SHARES, rng.multinomial(oso_total, list(OSO_CODE_SHARES.values())),
                       strict=True):
        recorded_rows.append(_recorded_row(name, quarter, code, int(n)))
        charged = rng.binomial(n, 0.04 + 0.02 * nom)
        pending_n = rng.binomial(n - charged, pending)
        for outcome, count in ((0, pending_n), (1, charged), (15, n - charged - pending_n)):
            outcome_rows.append([
                year, str(fq), name, "Other sexual offence", "Sexual offences",
                "Other sexual offences", code, f"Outcome {outcome}", "", str(outcome),
                int(count), int(count),
            ])


def _recorded_row(name: str, quarter: dt.date, code: str, count: int) -> list[object]:
    return [
        financial_year_label(quarter).replace("/", "-"), financial_quarter(quarter), name,
        RAPE_DESCRIPTIONS.get(code, "Other sexual offence"), "Sexual offences",
        "Rape" if code.startswith("19") else "Other sexual offences", code, count,
    ]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def remove_demo(db_path: Location) -> None:
    """Remove the database at ``db_path`` before a demonstration replaces it: a file is
    deleted; a PostgreSQL database loses its flight deck schema, but only if it holds
    demonstration data (or nothing): real data is never dropped for a demonstration."""
    if not isinstance(db_path, str):
        for stale in (db_path, db_path.with_name(db_path.name + ".wal")):
            stale.unlink(missing_ok=True)
        return
    with open_store(db_path) as store:
        if not store.exists():
            return
        with store.connect() as conn:
            demo = get_meta(conn, "demo") == "true" or not conn.execute(
                sa.select(sa.func.count()).select_from(schema.observations)).scalar_one()
        if not demo:
            raise ValueError(f"{store.location} holds real data: a demonstration is built "
                             "only into an empty database or over an earlier demonstration")
        store.destroy()


def build_demo(
    db_path: Path,
    end: dt.date | None = None,
    seed: int = DEFAULT_SEED,
    progress: Progress = lambda message: None,
) -> dt.date:
    """Build (or replace) a complete demonstration database; returns the end month."""
    end = end or last_complete_month()
    if end < add_months(DEMO_START, 12):
        raise ValueError("the demonstration needs an end month of 2020-04 or later")
    db_path = as_location(db_path)
    remove_demo(db_path)
    with tempfile.TemporaryDirectory(prefix="flightdeck-demo-") as folder:
        loads, adoption = build_files(Path(folder), end, seed, progress)
        progress("validating and loading the demonstration files")
        # A fixed load time and user keep the whole database deterministic.
        loaded_at = dt.datetime.combine(add_months(end, 1), dt.time(9, 0)) + dt.timedelta(days=14)

        def mark_as_demo(conn: sa.Connection) -> None:
            set_meta(conn, "demo", "true")
            set_meta(conn, "demo_seed", str(seed))
            for slug, month in adoption.items():
                conn.execute(sa.update(schema.forces).where(schema.forces.c.slug == slug)
                             .values(nom_adoption=month))

        load_files(db_path, [path for path, _ in loads], user="demonstration data generator",
                   now=loaded_at, today=loaded_at.date(), before_publish=mark_as_demo,
                   load_times=[when for _, when in loads])
    progress(f"demonstration database ready: {db_path}")
    return end
