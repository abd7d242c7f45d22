"""Cache keys are pure functions of specs and must never change by accident: the shipped demo results
and every user's cache are served under them. The values below were computed before the layout change
(the embedded build's fingerprint is passed in, so a rebuilt embedded model does not move them)."""

from __future__ import annotations

import pytest

from saeviz.sae.variants import VariantSpec
from saeviz.specs import DENSE, EMBEDDED, CompressSpec, EvalSpec, ModelSpec, TrainSpec
from saeviz.store import keys

FINGERPRINT = "c4eacc4973391a0e"  # the embedded build the values were computed on
MODEL = keys.model_key(ModelSpec(), FINGERPRINT)
WANDA = keys.compress_key(MODEL, CompressSpec(), EMBEDDED)
SAE = "embedded/resid/layer_1"

VARIANTS = {"dense": VariantSpec("dense"), "pretrained": VariantSpec("pretrained"), "pruned50": VariantSpec("pruned", 0.5),
            "retrained": VariantSpec("retrained", train=TrainSpec()), "pruned_best": VariantSpec("pruned_best", train=TrainSpec())}
PINNED = {
    "dense": ("ef265ad1d3a0711c", "891c4c29794fbd3e"),
    "pretrained": ("127050d174ff4cb9", "f38853f9f319da4f"),
    "pruned50": ("a01d66ab0780eedf", "e7dc6ba22b140236"),
    "retrained": ("624ece1765aac997", "272ae99106d72282"),
    "pruned_best": ("0f73cfbd507db3d2", "9789f87b3188fbd2"),
}


def test_model_and_compression_keys_are_pinned():
    assert MODEL == "81480c717de30510"
    assert keys.compress_key(MODEL, DENSE, EMBEDDED) == "57b98f8530b26faf"
    assert WANDA == "d8ddfbabd0d23b5a"
    assert keys.acts_key(WANDA, "blocks.1.hook_resid_post", "eval", 64) == "053b5d87d29f105e"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_and_run_keys_are_pinned(name):
    variant = VARIANTS[name]
    on = keys.compress_key(MODEL, keys.model_compression(CompressSpec(), variant), EMBEDDED)
    variant_key = keys.variant_key(on, SAE, variant)
    assert (variant_key, keys.run_key(variant_key, "core", EvalSpec())) == PINNED[name]


def test_keys_follow_every_input():
    assert keys.model_key(ModelSpec(), "a-rebuilt-build") != MODEL
    assert keys.model_key(ModelSpec(), None) != MODEL
    assert keys.compress_key(MODEL, CompressSpec(sparsity=0.3), EMBEDDED) != WANDA
    assert keys.compress_key(MODEL, CompressSpec(), "/some/tokens") != WANDA
    assert keys.variant_key(WANDA, SAE, VariantSpec("pruned", 0.5, "magnitude")) != PINNED["pruned50"][0]
    # pruned at 0% is the pretrained SAE: one key, one computation
    assert keys.variant_key(WANDA, SAE, VariantSpec("pruned", 0.0)) == keys.variant_key(WANDA, SAE, VariantSpec("pretrained"))


def test_the_dense_reference_runs_on_the_dense_model():
    assert keys.model_compression(CompressSpec(), VariantSpec("dense")) == DENSE
    assert keys.model_compression(CompressSpec(), VariantSpec("pruned", 0.5)) == CompressSpec()
