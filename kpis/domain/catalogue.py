"""The published KPI catalogue: a human-editable YAML file, validated, loaded into DuckDB.

Adding or revising a KPI is an edit of ``data/catalogue.yaml`` and a reload
(``flightdeck catalogue load``), never a code change. Validation reports every
problem at once, each naming the file, the entry, the field, the value and the rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

UNITS = ("count", "percent", "per_100k", "days", "ratio")
POLARITIES = ("higher", "lower", "neutral")
STATUSES = ("draft", "published")
PERIODICITIES = ("monthly", "quarterly")
SPC_RUN_LENGTHS = (6, 7, 8)
SPC_MIN_BASELINE = 15  # Making Data Count: fewer points give no limits
MEASURE_SOURCES = ("force_return", "ho_outcomes", "ho_recorded", "computed")
# Sources already published as open data: disclosure control has nothing to hide there.
PUBLISHED_SOURCES = ("ho_outcomes", "ho_recorded")
MEASURE_UNITS = ("count", "days")
MISSING_RULES = ("gap", "zero", "carry")
POPULATION_BASE = "population"
DEFAULT_PER = {POPULATION_BASE: 100_000}  # a measure base: per 100


@dataclass(frozen=True)
class Pillar:
    number: int
    name: str


@dataclass(frozen=True)
class Recommendation:
    rec_id: str
    deadline: dt.date
    title: str


@dataclass(frozen=True)
class Measure:
    measure_id: str
    title: str
    unit: str
    periodicity: str
    source: str
    # A stock (a level at the period's end, such as devices awaiting examination) is
    # summed over forces but never over time: its year is its latest value.
    stock: bool = False
    # A month without a return: a gap (the usual), or 0 (a count of what was supplied),
    # or the last value carried on (what was expected), from the force's first return.
    missing: str = "gap"


@dataclass(frozen=True)
class ProvisionalRule:
    """When a recorded-basis Home Office value is provisional: while the share of its
    quarter's outcomes not yet assigned (``pending`` of ``total``, outcome 0 of all) is
    above ``above``, and always in the latest quarter published."""

    pending: str
    total: str
    above: float


@dataclass(frozen=True)
class KpiDefinition:
    kpi_id: str
    version: int
    status: str
    title: str
    pillar: int
    description: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    unit: str
    polarity: str
    target: float | None
    periodicity: str
    source: str
    effective_from: dt.date
    recommendations: tuple[str, ...] = ()
    position: int = 0
    # SPC: the run length of a shift or a trend (Making Data Count: 7; 6 to 8 allowed),
    # and a fixed baseline of the first N points instead of re-basing at NOM adoption.
    spc_run_length: int = 7
    spc_baseline_points: int | None = None
    # What a count is compared and ranked per: ``comparison_per`` of the population of
    # the period's year (the default: per 100,000 people), or of a measure (per 100
    # offences recorded). ``comparison_noun`` names the base ('people', the measure's
    # title); it is derived from the catalogue, not stored.
    comparison_base: str = POPULATION_BASE
    comparison_per: int = 100_000
    comparison_noun: str = "people"
    provisional: ProvisionalRule | None = None

    @property
    def compared_as_rate(self) -> bool:
        """Is the KPI compared and ranked as a rate (its ``comparison`` columns)? Counts
        are: a raw count would rank forces by size. Every other unit is already a rate
        or a share, compared as it is."""
        return self.unit == "count"

    @property
    def compared(self) -> KpiDefinition:
        """The KPI as its comparisons are shown: a count as a rate per its base."""
        return replace(self, unit="per_100k") if self.compared_as_rate else self

    @property
    def comparison_basis(self) -> str:
        """What a count or a rate is per: 'per 100,000 people', 'per 100 RASSO reports
        received in the month'; '' for every other unit."""
        if self.unit not in ("count", "per_100k"):
            return ""
        return f"per {self.comparison_per:,} {self.comparison_noun}"


@dataclass(frozen=True)
class HomeOfficeComparison:
    """A force return's measure summed over a quarter against the Home Office's figure
    for that quarter: a load warns when they differ by more than ``tolerance`` (a share
    of the Home Office figure)."""

    return_measure: str
    home_office_measure: str
    tolerance: float


@dataclass(frozen=True)
class PlausibilityRules:
    """The thresholds of the plausibility checks every load of a force return gets
    (warnings, never refusals; ``kpis.ingest.plausibility``)."""

    history_months: int = 24  # the recent history a value is judged against
    min_history: int = 6  # fewer months of history: a value is not judged against it
    factor: float = 5.0  # more than this many times (or under 1/factor of) the median
    run_length: int = 12  # a month that breaks this many in a row of 0 (or of not 0)
    recent_returns: int = 3  # a measure in each of the last N months, missing later
    min_median: int = 5  # the factor test needs a recent median of at least this
    home_office: tuple[HomeOfficeComparison, ...] = ()

    def as_entry(self) -> dict[str, Any]:
        """The ``plausibility:`` block as the catalogue file writes it (parsing it back
        gives these rules)."""
        entry: dict[str, Any] = {name: getattr(self, name) for name in PLAUSIBILITY_COUNTS}
        entry["factor"] = int(self.factor) if float(self.factor).is_integer() else self.factor
        entry["home_office"] = [
            {"return_measure": pair.return_measure,
             "home_office_measure": pair.home_office_measure, "tolerance": pair.tolerance}
            for pair in self.home_office]
        return entry


#: The whole-number thresholds of PlausibilityRules: name -> (smallest, largest).
PLAUSIBILITY_COUNTS = {"history_months": (3, 120), "min_history": (2, 120),
                       "run_length": (2, 120), "recent_returns": (1, 24),
                       "min_median": (0, 100_000)}


@dataclass
class Catalogue:
    version: str
    pillars: list[Pillar]
    recommendations: list[Recommendation]
    measures: list[Measure]
    kpis: list[KpiDefinition] = field(default_factory=list)
    plausibility: PlausibilityRules = field(default_factory=PlausibilityRules)

    def is_open_data(self, kpi: KpiDefinition) -> bool:
        """Is every measure of the KPI already published as open data (Home Office)?"""
        sources = {m.measure_id: m.source for m in self.measures}
        return all(sources.get(m) in PUBLISHED_SOURCES
                   for m in (*kpi.numerator, *kpi.denominator))

    def published(self) -> list[KpiDefinition]:
        """The latest published version of each KPI, in catalogue order."""
        latest: dict[str, KpiDefinition] = {}
        for kpi in self.kpis:
            if kpi.status != "published":
                continue
            if kpi.kpi_id not in latest or kpi.version > latest[kpi.kpi_id].version:
                latest[kpi.kpi_id] = kpi
        return sorted(latest.values(), key=lambda k: k.position)


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    field: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: field '{self.field}' = {self.value!r}: {self.rule}"


class CatalogueError(ValueError):
    """The catalogue file is invalid; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the KPI catalogue:\n{lines}")


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, entry: str, field_name: str, value: Any, rule: str) -> None:
        self.problems.append(Problem(self.file, entry, field_name, value, rule))

    def text(self, item: dict[str, Any], entry: str, key: str, required: bool = True) -> str:
        value = item.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(entry, key, value, "is required")
            return ""
        if not isinstance(value, (str, int, float)):
            self.add(entry, key, value, "must be text")
            return ""
        return str(value).strip()

    def choice(self, item: dict[str, Any], entry: str, key: str, allowed: tuple[str, ...]) -> str:
        value = item.get(key)
        if value not in allowed:
            self.add(entry, key, value, f"must be one of {', '.join(allowed)}")
            return ""
        return str(value)

    def date(self, item: dict[str, Any], entry: str, key: str) -> dt.date:
        value = item.get(key)
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.add(entry, key, value, "must be a date written YYYY-MM-DD")
            return dt.date(1900, 1, 1)


def _measure_list(checker: _Checker, item: dict[str, Any], entry: str, key: str) -> tuple[str, ...]:
    value = item.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        checker.add(entry, key, value, "must be a list of measure ids")
        return ()
    return tuple(value)


def parse_catalogue(text: str, file_name: str = "catalogue.yaml") -> Catalogue:
    """Parse and validate catalogue YAML; raise CatalogueError listing every problem."""
    import yaml  # here: a dataset read from a database has its catalogue parsed already

    checker = _Checker(file_name)
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        checker.add("file", "-", None, f"is not valid YAML: {exc}")
        raise CatalogueError(checker.problems) from exc
    except (ValueError, OverflowError) as exc:
        # PyYAML builds dates and tagged numbers itself: "2025-02-30" or "!!int x"
        # raise the datetime's or int's own error, not a YAMLError.
        checker.add("file", "-", None, f"holds a date or number that does not exist: {exc}")
        raise CatalogueError(checker.problems) from exc
    except RecursionError as exc:
        checker.add("file", "-", None, "is nested too deeply to read")
        raise CatalogueError(checker.problems) from exc
    if not isinstance(raw, dict):
        checker.add("file", "-", None, "must be a mapping with pillars, measures and kpis")
        raise CatalogueError(checker.problems)
    for section in ("pillars", "measures", "kpis"):
        if not isinstance(raw.get(section), list) or not raw[section]:
            checker.add("file", section, raw.get(section), "must be a non-empty list")
    if checker.problems:
        raise CatalogueError(checker.problems)

    pillars = _parse_pillars(checker, raw["pillars"])
    recommendations = _parse_recommendations(checker, raw.get("recommendations") or [])
    measures = _parse_measures(checker, raw["measures"])
    kpis = _parse_kpis(
        checker,
        raw["kpis"],
        pillar_numbers={p.number for p in pillars},
        measures={m.measure_id: m for m in measures},
        recommendation_ids={r.rec_id for r in recommendations},
    )
    plausibility = _parse_plausibility(checker, raw.get("plausibility"),
                                       {m.measure_id: m for m in measures})
    if checker.problems:
        raise CatalogueError(checker.problems)
    return Catalogue(
        version=str(raw.get("catalogue_version", "")),
        pillars=pillars,
        recommendations=recommendations,
        measures=measures,
        kpis=kpis,
        plausibility=plausibility,
    )


def _parse_plausibility(checker: _Checker, raw: Any, measures: dict[str, Measure]
                        ) -> PlausibilityRules:
    """``plausibility:`` (optional; every threshold has a default)."""
    entry = "plausibility"
    if raw is None:
        return PlausibilityRules()
    if not isinstance(raw, dict):
        checker.add(entry, "-", raw, "must be a mapping of thresholds")
        return PlausibilityRules()
    known = {*PLAUSIBILITY_COUNTS, "factor", "home_office"}
    for key in raw:
        if key not in known:
            checker.add(entry, str(key), raw[key],
                        f"unknown threshold (known: {', '.join(sorted(known))})")
    defaults = PlausibilityRules()
    counts: dict[str, int] = {}
    for key, (low, high) in PLAUSIBILITY_COUNTS.items():
        value = raw.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            checker.add(entry, key, value, f"must be a whole number from {low} to {high}")
            value = getattr(defaults, key)
        counts[key] = int(value)
    for key in ("min_history", "run_length"):
        if counts[key] > counts["history_months"]:
            checker.add(entry, key, counts[key],
                        f"must be at most history_months ({counts['history_months']})")
    factor = raw.get("factor", defaults.factor)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
        checker.add(entry, "factor", factor, "must be a number above 1")
        factor = defaults.factor
    pairs = raw.get("home_office") or []
    if not isinstance(pairs, list):
        checker.add(entry, "home_office", pairs, "must be a list")
        pairs = []
    comparisons: list[HomeOfficeComparison] = []
    for index, pair in enumerate(pairs):
        where = f"plausibility.home_office[{index}]"
        if not isinstance(pair, dict) or set(pair) != {"return_measure",
                                                       "home_office_measure", "tolerance"}:
            checker.add(where, "-", pair, "must be a mapping of return_measure, "
                        "home_office_measure and tolerance (a share of the Home Office "
                        "figure)")
            continue
        ok = True
        for key, sources, periodicity in (
                ("return_measure", ("force_return",), "monthly"),
                ("home_office_measure", PUBLISHED_SOURCES, "quarterly")):
            measure = measures.get(pair[key]) if isinstance(pair[key], str) else None
            if measure is None:
                checker.add(where, key, pair[key], "unknown measure")
                ok = False
            elif measure.source not in sources or measure.periodicity != periodicity:
                checker.add(where, key, pair[key],
                            f"must be a {periodicity} measure from "
                            f"{' or '.join(sources)}")
                ok = False
        tolerance = pair["tolerance"]
        if (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                or not 0 <= tolerance <= 10):
            checker.add(where, "tolerance", tolerance, "must be a share from 0 to 10")
            ok = False
        if ok:
            comparisons.append(HomeOfficeComparison(pair["return_measure"],
                                                    pair["home_office_measure"],
                                                    float(tolerance)))
    return PlausibilityRules(history_months=counts["history_months"],
                             min_history=counts["min_history"], factor=float(factor),
                             run_length=counts["run_length"],
                             recent_returns=counts["recent_returns"],
                             min_median=counts["min_median"],
                             home_office=tuple(comparisons))


def _parse_pillars(checker: _Checker, items: list[Any]) -> list[Pillar]:
    pillars: list[Pillar] = []
    for index, item in enumerate(items):
        entry = f"pillars[{index}]"
        if not isinstance(item, dict):
            checker.add(entry, "-", item, "must be a mapping with number and name")
            continue
        number = item.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            checker.add(entry, "number", number, "must be a whole number")
            continue
        if any(p.number == number for p in pillars):
            checker.add(entry, "number", number, "duplicate pillar number")
        pillars.append(Pillar(number, checker.text(item, entry, "name")))
    return pillars


def _parse_recommendations(checker: _Checker, items: list[Any]) -> list[Recommendation]:
    recs: list[Recommendation] = []
    for index, item in enumerate(items):
        entry = f"recommendations[{index}]"
        if not isinstance(item, dict):
            checker.add(entry, "-", item, "must be a mapping with id, deadline and title")
            continue
        recs.append(
            Recommendation(
                checker.text(item, entry, "id"),
                checker.date(item, entry, "deadline"),
                checker.text(item, entry, "title"),
            )
        )
    return recs


def _parse_measures(checker: _Checker, items: list[Any]) -> list[Measure]:
    measures: list[Measure] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        entry = f"measures[{index}]"
        if not isinstance(item, dict):
            checker.add(entry, "-", item, "must be a mapping")
            continue
        measure_id = checker.text(item, entry, "id")
        entry = f"measures[{index}] (id {measure_id})" if measure_id else entry
        if measure_id in seen:
            checker.add(entry, "id", measure_id, "duplicate measure id")
        seen.add(measure_id)
        stock = item.get("stock", False)
        if not isinstance(stock, bool):
            checker.add(entry, "stock", stock, "must be true or false")
            stock = False
        missing = item.get("missing", "gap")
        if missing not in MISSING_RULES:
            checker.add(entry, "missing", missing, f"must be one of {', '.join(MISSING_RULES)}")
            missing = "gap"
        measures.append(
            Measure(
                measure_id=measure_id,
                title=checker.text(item, entry, "title"),
                unit=checker.choice(item, entry, "unit", MEASURE_UNITS),
                periodicity=checker.choice(item, entry, "periodicity", PERIODICITIES),
                source=checker.choice(item, entry, "source", MEASURE_SOURCES),
                stock=stock,
                missing=str(missing),
            )
        )
    return measures


def _parse_kpis(
    checker: _Checker,
    items: list[Any],
    pillar_numbers: set[int],
    measures: dict[str, Measure],
    recommendation_ids: set[str],
) -> list[KpiDefinition]:
    kpis: list[KpiDefinition] = []
    seen: set[tuple[str, int]] = set()
    for index, item in enumerate(items):
        entry = f"kpis[{index}]"
        if not isinstance(item, dict):
            checker.add(entry, "-", item, "must be a mapping")
            continue
        kpi_id = checker.text(item, entry, "id")
        if kpi_id:
            entry = f"kpis[{index}] (id {kpi_id})"
        version = item.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            checker.add(entry, "version", version, "must be a whole number of 1 or more")
            version = 0
        elif (kpi_id, version) in seen:
            checker.add(entry, "version", version, f"duplicate id+version ({kpi_id} v{version})")
        seen.add((kpi_id, version))
        pillar = item.get("pillar")
        # A list or mapping cannot be looked up in a set; True is not pillar 1.
        if isinstance(pillar, bool) or not isinstance(pillar, int) or (
            pillar not in pillar_numbers
        ):
            checker.add(
                entry, "pillar", pillar,
                f"unknown pillar (known: {', '.join(map(str, sorted(pillar_numbers)))})",
            )
        numerator = _measure_list(checker, item, entry, "numerator")
        denominator = _measure_list(checker, item, entry, "denominator")
        if not numerator:
            checker.add(entry, "numerator", item.get("numerator"),
                        "at least one measure is required")
        for role, terms in (("numerator", numerator), ("denominator", denominator)):
            for measure_id in terms:
                if measure_id not in measures:
                    checker.add(entry, role, measure_id, "unknown measure")
        unit = checker.choice(item, entry, "unit", UNITS)
        if unit in ("percent", "days", "ratio") and not denominator:
            checker.add(entry, "denominator", None, f"a {unit} KPI needs a denominator")
        if unit in ("count", "per_100k") and denominator:
            checker.add(entry, "denominator", list(denominator), f"a {unit} KPI has no denominator")
        periodicity = checker.choice(item, entry, "periodicity", PERIODICITIES)
        for role, terms in (("numerator", numerator), ("denominator", denominator)):
            kinds = {measures[m].stock for m in terms if m in measures}
            if len(kinds) > 1:
                checker.add(entry, role, list(terms),
                            "mixes stocks and flows: a year of one is a sum, of the other "
                            "the latest value")
        for measure_id in numerator + denominator:
            measure = measures.get(measure_id)
            if measure and periodicity and measure.periodicity != periodicity:
                checker.add(
                    entry, "periodicity", periodicity,
                    f"measure {measure_id} is {measure.periodicity}",
                )
        target = item.get("target")
        if target is not None and (
            not isinstance(target, (int, float)) or isinstance(target, bool)
        ):
            checker.add(entry, "target", target, "must be a number")
            target = None
        if unit == "percent" and isinstance(target, (int, float)) and not 0 <= target <= 1:
            checker.add(entry, "target", target, "a percent target is a fraction from 0 to 1")
        run_length = item.get("spc_run_length", 7)
        if run_length not in SPC_RUN_LENGTHS or isinstance(run_length, bool):
            checker.add(entry, "spc_run_length", run_length, "must be 6, 7 or 8")
            run_length = 7
        baseline = item.get("spc_baseline_points")
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, int)
                                     or baseline < SPC_MIN_BASELINE):
            checker.add(entry, "spc_baseline_points", baseline,
                        f"must be a whole number of {SPC_MIN_BASELINE} or more points")
            baseline = None
        base, per, noun = _comparison_base(checker, item, entry, unit, measures)
        provisional = _provisional_rule(checker, item, entry, measures)
        recs = _measure_list(checker, item, entry, "recommendations")
        for rec_id in recs:
            if rec_id not in recommendation_ids:
                checker.add(entry, "recommendations", rec_id, "unknown recommendation")
        kpis.append(
            KpiDefinition(
                kpi_id=kpi_id,
                version=version,
                status=checker.choice(item, entry, "status", STATUSES),
                title=checker.text(item, entry, "title"),
                pillar=pillar if isinstance(pillar, int) else 0,
                description=checker.text(item, entry, "description"),
                numerator=numerator,
                denominator=denominator,
                unit=unit,
                polarity=checker.choice(item, entry, "polarity", POLARITIES),
                target=float(target) if target is not None else None,
                periodicity=periodicity,
                source=checker.text(item, entry, "source"),
                effective_from=checker.date(item, entry, "effective_from"),
                recommendations=recs,
                position=index,
                spc_run_length=int(run_length),
                spc_baseline_points=baseline,
                comparison_base=base,
                comparison_per=per,
                comparison_noun=noun,
                provisional=provisional,
            )
        )
    return kpis


def _provisional_rule(checker: _Checker, item: dict[str, Any], entry: str,
                      measures: dict[str, Measure]) -> ProvisionalRule | None:
    """``provisional: {pending: MEASURE, of: MEASURE, above: SHARE}``, or None."""
    rule = item.get("provisional")
    if rule is None:
        return None
    if not isinstance(rule, dict) or set(rule) != {"pending", "of", "above"}:
        checker.add(entry, "provisional", rule,
                    "must be a mapping of pending, of and above (a share from 0 to 1)")
        return None
    ok = True
    for key in ("pending", "of"):
        if rule[key] not in measures:
            checker.add(entry, f"provisional.{key}", rule[key], "unknown measure")
            ok = False
        elif measures[rule[key]].periodicity != item.get("periodicity"):
            checker.add(entry, f"provisional.{key}", rule[key],
                        f"measure {rule[key]} is {measures[rule[key]].periodicity}")
            ok = False
    above = rule["above"]
    if isinstance(above, bool) or not isinstance(above, (int, float)) or not 0 <= above < 1:
        checker.add(entry, "provisional.above", above, "must be a share from 0 to below 1")
        ok = False
    return ProvisionalRule(str(rule["pending"]), str(rule["of"]), float(above)) if ok else None


def load_yaml(text: str) -> Any:
    """YAML as plain data, safely: libyaml's C loader where PyYAML has it (some nine
    times faster on the catalogue than the pure-Python one, and the same data)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def comparison_noun(base: str, measures: dict[str, Measure]) -> str:
    """What a rate is per: 'people', or the base measure's title in lower case."""
    if base == POPULATION_BASE or base not in measures:
        return "people"
    title = measures[base].title
    # 'Victims referred' -> 'victims referred'; an acronym ('RASSO reports') stays.
    return title[:1].lower() + title[1:] if title[1:2].islower() else title


def _comparison_base(checker: _Checker, item: dict[str, Any], entry: str, unit: str,
                     measures: dict[str, Measure]) -> tuple[str, int, str]:
    """A count KPI's comparison base: ``population`` (the default) or a measure id, and
    ``comparison_per`` (100,000 of the population, 100 of a measure by default)."""
    base = item.get("comparison_base", POPULATION_BASE)
    per = item.get("comparison_per")
    if unit != "count":
        for key, value in (("comparison_base", item.get("comparison_base")),
                           ("comparison_per", per)):
            if value is not None:
                checker.add(entry, key, value, "only a count KPI has a comparison base "
                            "(every other unit is compared as it is)")
        return POPULATION_BASE, DEFAULT_PER[POPULATION_BASE], "people"
    if not isinstance(base, str) or (base != POPULATION_BASE and base not in measures):
        checker.add(entry, "comparison_base", base,
                    "must be 'population' or a measure id")
        base = POPULATION_BASE
    elif base != POPULATION_BASE and item.get("periodicity") != measures[base].periodicity:
        checker.add(entry, "comparison_base", base,
                    f"measure {base} is {measures[base].periodicity}")
        base = POPULATION_BASE
    default = DEFAULT_PER.get(base, 100)
    if per is None:
        per = default
    elif isinstance(per, bool) or not isinstance(per, int) or per < 1:
        checker.add(entry, "comparison_per", per, "must be a whole number of 1 or more")
        per = default
    return base, int(per), comparison_noun(base, measures)


def read_catalogue(path: Path) -> Catalogue:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogueError([Problem(str(path), "file", "-", None, "file not found")]) from exc
    except UnicodeDecodeError as exc:
        raise CatalogueError([Problem(str(path), "file", "-", None, "must be UTF-8 text")]) from exc
    return parse_catalogue(text, file_name=str(path))
