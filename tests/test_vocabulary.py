"""Every code the engine and the catalogue can produce has exactly one phrase."""

from __future__ import annotations

import numpy as np

from kpis.domain import vocabulary as v
from kpis.domain.catalogue import read_catalogue
from kpis.engine.spc import xmr_batch
from kpis.settings import CATALOGUE_FILE


def test_every_variation_rule_assurance_and_polarity_has_a_phrase() -> None:
    assert set(v.VARIATION_PHRASE) == set(v.VARIATIONS)
    assert set(v.RULE_PHRASE) == set(v.RULES)
    assert set(v.ASSURANCE_PHRASE) == set(v.ASSURANCES)
    assert set(v.POLARITY_PHRASE) == set(v.POLARITIES)
    phrases = [*v.VARIATION_PHRASE.values(), *v.RULE_PHRASE.values(),
               *v.ASSURANCE_PHRASE.values(), *v.POLARITY_PHRASE.values()]
    assert all(p and p == p.strip() for p in phrases)
    assert len(set(phrases)) == len(phrases)  # one phrase per code, never shared


def test_every_code_the_spc_engine_produces_is_in_the_vocabulary() -> None:
    # A series with an outside point, a shift and a trend, for each polarity.
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(10, 1, 20), rng.normal(14, 1, 10),
                             np.arange(10.0, 20.0), [40.0]])
    for polarity in v.POLARITIES:
        batch = xmr_batch(values, [0, len(values)], polarity)
        labels = {str(x) for x in batch.rules if x}
        variations = {str(x) for x in batch.variation}
        for label in labels:
            assert v.rule_phrases(label), label
            assert len(v.rule_phrases(label)) == len(label.split(","))
        assert variations <= set(v.VARIATION_PHRASE)
        assert variations - {"common"}, "the series should have signals"


def test_the_catalogue_uses_only_known_polarities() -> None:
    catalogue = read_catalogue(CATALOGUE_FILE)
    assert {k.polarity for k in catalogue.kpis} <= set(v.POLARITY_PHRASE)


def test_parse_parts() -> None:
    assert v.parse_parts("value,spc") == {"value", "spc"}
    assert v.parse_parts("") == set()
    assert v.parse_parts(None) == set()
    assert v.parse_parts(float("nan")) == set()
