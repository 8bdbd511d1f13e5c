"""Variation and assurance icons in the Making Data Count convention, drawn as SVG.

NHS England's Making Data Count (MDC) icons are what SPC users in the NHS and police
read at a glance: a circle for variation (grey for common cause; blue for special cause
improvement, orange for concern, purple for a change on a measure with no better
direction, each with H or L for a high or low point) and a second shape for assurance
(blue P for consistently passing the target, orange F for consistently failing, grey
for hit and miss). They are drawn here, not copied, and each has an accessible name
that starts with the words (``Special cause concern, low``), so colour never carries
the meaning alone. Pages, packs and exports use the same icons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kpis.domain.formatting import finite_or_none
from kpis.domain.vocabulary import (
    ASSURANCE_FAIL,
    ASSURANCE_HIT_AND_MISS,
    ASSURANCE_PASS,
    ASSURANCE_PHRASE,
    LIMIT_STATE_PHRASE,
    VARIATION_PHRASE,
)

__all__ = ["ICON_COLOURS", "Icon", "assurance_icon", "special_cause_side", "variation_icon"]

#: Colours with at least 3:1 contrast against white and against the dark theme's cards.
ICON_COLOURS: dict[str, str] = {
    "improvement": "#1c6bb0",
    "concern": "#c04f00",
    "neither": "#7440b0",
    "common": "#6c757d",
    "pass": "#1c6bb0",
    "fail": "#c04f00",
    "hit_and_miss": "#6c757d",
    "none": "#6c757d",
}

SIZE = 24


@dataclass(frozen=True)
class Icon:
    """An icon: its accessible name, a short code for styling and tests, and its SVG."""

    name: str
    code: str  # e.g. "concern-low", "common", "pass", "too-few", "withheld"
    svg: str

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;utf8," + self.svg.replace("#", "%23")


def _svg(body: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{SIZE}' height='{SIZE}' "
            f"viewBox='0 0 24 24'>{body}</svg>")


def _letter(text: str, colour: str = "#ffffff") -> str:
    return (f"<text x='12' y='16.5' text-anchor='middle' font-family='Arial, sans-serif' "
            f"font-size='12' font-weight='700' fill='{colour}'>{text}</text>")


def special_cause_side(row: dict[str, Any] | Any) -> str | None:
    """'high' or 'low': which side of the centre line the latest point lies (None: none)."""
    value, mean = finite_or_none(_get(row, "value")), finite_or_none(_get(row, "spc_mean"))
    if value is None or mean is None or value == mean:
        return None
    return "high" if value > mean else "low"


def variation_icon(variation: object, side: str | None = None, limits: object = None,
                   withheld: bool = False) -> Icon:
    """The variation icon for a KPI's latest point (``limits``: its ``spc_limits``)."""
    if withheld:
        return Icon("SPC withheld by disclosure control", "withheld", _svg(
            "<circle cx='12' cy='12' r='10' fill='none' stroke='#6c757d' stroke-width='2' "
            "stroke-dasharray='3 2'/>" + _letter("c", "#6c757d")))
    if limits == "too_few":
        return Icon(LIMIT_STATE_PHRASE["too_few"], "too-few", _svg(
            "<circle cx='12' cy='12' r='10' fill='none' stroke='#6c757d' stroke-width='2' "
            "stroke-dasharray='3 2'/><path d='M7 12h10' stroke='#6c757d' stroke-width='2'/>"))
    code = str(variation) if isinstance(variation, str) else ""
    if code not in VARIATION_PHRASE:
        return Icon("No SPC for this period", "none", _svg(
            "<circle cx='12' cy='12' r='10' fill='none' stroke='#6c757d' stroke-width='2' "
            "stroke-dasharray='1 3'/>"))
    colour = ICON_COLOURS[code]
    if code == "common":
        # A flat run of points: nothing beyond the usual.
        dots = "".join(f"<circle cx='{x}' cy='12' r='1.6' fill='{colour}'/>"
                       for x in (7, 10.3, 13.6, 17))
        return Icon(VARIATION_PHRASE[code], "common", _svg(
            f"<circle cx='12' cy='12' r='10' fill='none' stroke='{colour}' "
            f"stroke-width='2'/>{dots}"))
    letter = {"high": "H", "low": "L"}.get(side or "", "")
    name = VARIATION_PHRASE[code] + (f", {side}" if letter else "")
    return Icon(name, f"{code}-{side}" if letter else code, _svg(
        f"<circle cx='12' cy='12' r='11' fill='{colour}'/>" + _letter(letter or "!")))


def assurance_icon(assurance: object, has_target: bool, limits: object = None,
                   withheld: bool = False) -> Icon | None:
    """The assurance icon against the KPI's target (None: the KPI has no target)."""
    if not has_target:
        return None
    shape = "<rect x='2' y='2' width='20' height='20' rx='5' "
    if withheld:
        return Icon("Assurance withheld by disclosure control", "withheld", _svg(
            shape + "fill='none' stroke='#6c757d' stroke-width='2' stroke-dasharray='3 2'/>"
            + _letter("c", "#6c757d")))
    code = str(assurance) if isinstance(assurance, str) else ""
    if code not in ASSURANCE_PHRASE:
        why = (LIMIT_STATE_PHRASE["too_few"].replace("SPC", "assurance")
               if limits == "too_few" else "No assurance for this period")
        return Icon(why, "too-few", _svg(
            shape + "fill='none' stroke='#6c757d' stroke-width='2' stroke-dasharray='3 2'/>"))
    colour = ICON_COLOURS[code]
    letter = {ASSURANCE_PASS: "P", ASSURANCE_FAIL: "F", ASSURANCE_HIT_AND_MISS: "?"}[code]
    return Icon(ASSURANCE_PHRASE[code], code.replace("_", "-"), _svg(
        shape + f"fill='{colour}'/>" + _letter(letter)))


def _get(row: Any, key: str) -> Any:
    return row.get(key) if hasattr(row, "get") else None


#: Short words for an icon, where space is short (a pack's summary matrix): the icon
#: beside them carries the rest.
SHORT_WORDS = {
    "common": "Common cause", "concern": "Concern", "improvement": "Improvement",
    "neither": "Special cause", "withheld": "Withheld", "too-few": "Too few points",
    "none": "No SPC", "pass": "Passing", "fail": "Failing", "hit-and-miss": "Hit and miss",
}


def short_words(icon: Icon | None, none: str = "No target") -> str:
    """'Concern, high', 'Failing', 'Common cause': an icon's name in a few words."""
    if icon is None:
        return none
    code, _, side = icon.code.partition("-")
    if icon.code in SHORT_WORDS:
        return SHORT_WORDS[icon.code]
    words = SHORT_WORDS.get(code, icon.name)
    return f"{words}, {side}" if side in ("high", "low") else words
