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

#: On every page, chart and export built from demonstration data.
DEMO_LABEL = "DEMONSTRATION DATA – not real police figures"

#: The parts of a flight-deck row that disclosure control can hide, in the order of
#: their bits (``suppressed_parts`` lists them comma separated).
SUPPRESSIBLE_PARTS: tuple[str, ...] = ("value", "rolling", "prior", "national", "peer", "spc")


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
