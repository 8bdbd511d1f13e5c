"""The flight deck's words: one phrase for each code, used by every page, chart and pack.

Codes (``"concern"``, ``"two_of_three"``, ``"hit_and_miss"``) are what the engine
computes and the CSV carries; the phrases here are what people read. A test checks that
every code the engine can produce has its phrase, so a new state cannot reach a page
as a raw code. Phrases follow NHS England's Making Data Count wording.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- SPC

#: The SPC variation of a point.
VARIATIONS: tuple[str, ...] = ("common", "improvement", "concern", "neither")
VARIATION_PHRASE: dict[str, str] = {
    "common": "Common cause variation",
    "improvement": "Special cause improvement",
    "concern": "Special cause concern",
    "neither": "Special cause variation",  # an unusual change on a neutral measure
}

#: The special-cause rules, in the order of their bits in the engine's rule codes.
RULES: tuple[str, ...] = ("outside", "shift", "trend", "two_of_three")
RULE_PHRASE: dict[str, str] = {
    "outside": "a point outside the process limits",
    "shift": "a run of points on one side of the centre line",
    "trend": "a run of consecutive rises or falls",
    "two_of_three": "two of three points close to a process limit",
}

#: The state of a segment's limits: too few points for any, trial limits, or limits.
LIMIT_STATES: tuple[str, ...] = ("too_few", "trial", "limits")
LIMIT_STATE_PHRASE: dict[str, str] = {
    "too_few": "Not enough data for SPC",
    "trial": "Trial limits",
    "limits": "Limits",
}

#: Where a point's limits come from (the table's ``spc_basis``).
SPC_BASES: tuple[str, ...] = (
    "whole_series", "nom_adoption", "before_nom", "no_adoption_month",
    "too_few_since_adoption", "first_points",
)
SPC_BASIS_PHRASE: dict[str, str] = {
    "whole_series": "the whole series",
    "nom_adoption": "re-based at NOM adoption",
    "before_nom": "the months before NOM adoption",
    "no_adoption_month": "the whole series, as no NOM adoption month is known",
    "too_few_since_adoption": (
        "the whole series, as there are fewer than 15 points since NOM adoption"),
    "first_points": "a fixed baseline of the first points",
}

#: The SPC baselines a reader can ask for (``--baseline``, ``?baseline=``).
BASELINE_PHRASE: dict[str, str] = {
    "nom": ("re-based at each force's NOM adoption where it has 15 points since, else the "
            "whole series; a KPI's fixed baseline where the catalogue sets one; England "
            "and Wales and regions: the whole series"),
    "all": "the whole series",
    "first": "the first N points of each series",
}

#: Assurance of a process against its target.
ASSURANCE_PASS = "pass"
ASSURANCE_FAIL = "fail"
ASSURANCE_HIT_AND_MISS = "hit_and_miss"
ASSURANCES: tuple[str, ...] = (ASSURANCE_PASS, ASSURANCE_FAIL, ASSURANCE_HIT_AND_MISS)
ASSURANCE_PHRASE: dict[str, str] = {
    ASSURANCE_PASS: "Consistently passing the target",
    ASSURANCE_FAIL: "Consistently failing the target",
    ASSURANCE_HIT_AND_MISS: "Hit and miss against the target",
}

# --------------------------------------------------------------------------- KPIs

POLARITIES: tuple[str, ...] = ("higher", "lower", "neutral")
POLARITY_PHRASE: dict[str, str] = {
    "higher": "Higher is better",
    "lower": "Lower is better",
    "neutral": "Neither higher nor lower is better",
}

# --------------------------------------------------------------------------- labels

#: ONS / GSS symbol for a figure withheld as confidential.
SUPPRESSED_LABEL = "[c]"
# An aggregate withheld from a force-scoped account (kpis.engine.disclosure).
WITHHELD_AREA_NOTE = ("not shown to your account: with your own force's figures it would "
                      "give another force's")
# A recorded-basis Home Office value while many of its outcomes are still unassigned.
PROVISIONAL_NOTE = "provisional: outcomes still being assigned"
PROVISIONAL_LABEL = "provisional"  # where space is short: tiles

#: On every page, chart and export built from demonstration data.
DEMO_LABEL = "DEMONSTRATION DATA – not real police figures"

#: Said to a force-scoped account where it sees other forces' Home Office figures.
OPEN_DATA_SCOPE_NOTE = ("Home Office open data is published for every force, so every "
                        "force is shown here; figures from force returns show your force "
                        "only.")

#: Why a suppressed output shows no SPC lines, signals or change for a series.
SERIES_WITHHELD_NOTE = ("withheld because another point of the series is suppressed: "
                        "with the points shown they would give it away")
#: Why a suppressed output withholds a figure (primary or complementary suppression).
SUPPRESSED_REASON = ("it rests on a small number of cases, or would let one be worked out "
                     "from the figures shown")

#: The parts of a flight-deck row that disclosure control can hide, in the order of
#: their bits (``suppressed_parts`` lists them comma separated).
SUPPRESSIBLE_PARTS: tuple[str, ...] = ("value", "rolling", "prior", "national", "peer", "spc",
                                        "numerator", "denominator")


def variation_phrase(code: object) -> str:
    """The phrase for a variation code ("" when there is none, e.g. a gap)."""
    return VARIATION_PHRASE.get(str(code), "") if code else ""


def rule_phrases(codes: object) -> list[str]:
    """The phrases of a comma-joined rule code ("outside,shift"), in rule order."""
    given = {c for c in str(codes or "").split(",") if c}
    return [RULE_PHRASE[rule] for rule in RULES if rule in given]


def parse_parts(text: object) -> set[str]:
    """The hidden parts of a row from its ``suppressed_parts`` text ("value,spc")."""
    if not isinstance(text, str):
        return set()
    return {part for part in text.split(",") if part}
