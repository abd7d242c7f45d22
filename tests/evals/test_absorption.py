"""Feature absorption (saeviz.evals.absorption): word split and probe F1 by hand, a model with planted
first-letter directions and an SAE with planted absorbing latents, and the embedded default."""

import math
import statistics

import pytest
import torch

from saeviz.errors import SaevizError
from saeviz.evals import absorption as A
from saeviz.evals.base import EvalInputs
from saeviz.specs import site_hook


def test_split_words_is_stratified_disjoint_and_capped():
    words = [" apple", "ant", " axe", " ark", " bee", "bat", " cat"]
    train, test = A.split_words(words, 0.25, seed=0)
    assert sorted(train + test) == sorted(words) and not set(train) & set(test)
    by_letter = {c: (sum(w.strip()[0] == c for w in train), sum(w.strip()[0] == c for w in test)) for c in "abc"}
    # a: 4 words, round(0.25 * 4) = 1 held out; b: 2 words, max(1, round(0.5)) = 1; c: its only word is tested
    assert by_letter == {"a": (3, 1), "b": (1, 1), "c": (0, 1)}
    train, test = A.split_words(words, 0.25, seed=0, max_per_letter=2)
    assert len(train) + len(test) == 2 + 2 + 1
    assert A.split_words(words, 0.25, seed=3) == A.split_words(words, 0.25, seed=3)


def test_probe_f1_by_hand():
    y = torch.tensor([0, 0, 1, 1])
    scores = torch.full((4, 26), -1.0)
    scores[:, 0] = torch.tensor([2.0, -1.0, 3.0, -2.0])  # letter a: TP 1, FN 1, FP 1 -> F1 2/(2+1+1) = 0.5
    scores[:, 1] = torch.tensor([-1.0, -1.0, 1.0, 1.0])  # letter b: perfect
    f1 = A.probe_f1(scores, y)
    assert f1[0].item() == pytest.approx(0.5) and f1[1].item() == pytest.approx(1.0)
    assert f1[2:].sum().item() == 0.0  # no positives, no predictions: 0 (sklearn's zero_division)


def test_spec_validation_says_what_to_change():
    with pytest.raises(ValueError, match="count from the end"):
        A.AbsorptionSpec(prompt_token_pos=3)
    with pytest.raises(ValueError, match="sae_bench: 0.6 and 20"):
        A.AbsorptionSpec(min_letters=30)


# ---------------------------------------------------------------- planted letters and absorbers

ABSORBED = 2  # words whose letter latent is inhibited and replaced by a latent of their own
D_MODEL, D_SAE = 64, 32


@pytest.fixture(scope="module")
def planted():
    """A one-layer model whose resid_post is its token embedding: 3 * e_letter + noise for alphabetic tokens,
    plus 3 * e_(60 + j) for the j-th absorbed word; and a ReLU SAE with one latent per letter (silenced on
    the absorbed words) and one absorbing latent per absorbed word that decodes to its letter direction."""
    from conftest import build_sae
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from saeviz.embedded import load_tokenizer

    tok = load_tokenizer()
    # 40 words per letter and a 128-row batch give the latent-ranking probe enough steps on this small vocabulary
    spec = A.AbsorptionSpec(max_words_per_letter=40, k_sparse_probe_batch_size=128, max_k_value=3, llm_batch_size=128)
    words = A.vocabulary(tok)
    train, test = A.split_words(words, spec.test_fraction, spec.seed, spec.max_words_per_letter)
    # absorb one held-out word of 'b' and one of 'c' (letters with several held-out words)
    absorbed = [next(w for w in test if A.letter_of(w) == A.LETTERS.index(c)) for c in "bc"]
    cfg = HookedTransformerConfig(n_layers=1, d_model=D_MODEL, d_head=16, n_heads=4, d_mlp=16,
                                  d_vocab=len(tok), n_ctx=128, act_fn="relu", normalization_type=None,
                                  device="cpu", seed=0)
    model = HookedTransformer(cfg, tokenizer=tok)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for w in words:
            tid = tok.encode(w, add_special_tokens=False)[0]
            model.W_E[tid, A.letter_of(w)] = 3.0
            model.W_E[tid, 26:60] = 0.3 * torch.randn(34, generator=gen)
        for j, w in enumerate(absorbed):
            model.W_E[tok.encode(w, add_special_tokens=False)[0], 60 + j] = 3.0
    sae = build_sae("standard", D_MODEL, D_SAE, "blocks.0.hook_resid_post")
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
        sae.b_enc[26 + ABSORBED:] = -10.0  # dead latents
        for letter in range(26):
            sae.W_enc[letter, letter], sae.W_dec[letter, letter] = 1.0, 1.0
        for j, w in enumerate(absorbed):
            sae.W_enc[60 + j, A.letter_of(w)] = -3.0  # the letter latent stays silent on this word
            sae.W_enc[60 + j, 26 + j], sae.W_dec[26 + j, A.letter_of(w)] = 1.0, 1.0
    inputs = EvalInputs(model=model.eval(), sae=sae.eval(), hook="blocks.0.hook_resid_post", site="resid",
                        layer=0, tokens=None, acts=None)
    return inputs, spec, test, absorbed


@pytest.mark.slow
def test_planted_absorption_is_found_with_hand_derived_values(planted):
    inputs, spec, test, absorbed = planted
    got = A.run_absorption(inputs, spec)
    value = {(r.item, r.metric): r.value for r in got.itertuples()}
    assert value[("", "evaluable")] == 1.0 and value[("", "n_letters")] == 26
    # the probe reads clean letter directions: every letter's F1 is 1, so every held-out word is a probe positive
    assert all(value[(c, "probe_f1")] == 1.0 for c in A.LETTERS)
    n_test = {c: sum(A.letter_of(w) == i for w in test) for i, c in enumerate(A.LETTERS)}
    assert value[("", "n_words")] == len(test)
    # per letter: the absorbed word is fully absorbed (fraction 1), every other word not at all (0)
    expected = {c: (1.0 / n_test[c] if c in {w.strip()[0].lower() for w in absorbed} else 0.0) for c in A.LETTERS}
    for c in A.LETTERS:
        assert value[(c, "absorption_fraction")] == pytest.approx(expected[c], abs=1e-6), c
        assert value[(c, "full_absorption_rate")] == pytest.approx(expected[c], abs=1e-6), c
        assert value[(c, "num_split_features")] == 1.0  # one main latent per letter, no splitting
    per_letter = list(expected.values())
    assert value[("", "mean_absorption_fraction")] == pytest.approx(statistics.mean(per_letter))
    assert value[("", "std_absorption_fraction")] == pytest.approx(statistics.stdev(per_letter))
    assert value[("", "mean_full_absorption")] == pytest.approx(statistics.mean(per_letter))
    assert value[("", "mean_num_split_features")] == 1.0 and value[("", "std_num_split_features")] == 0.0


# ---------------------------------------------------------------- the embedded default

@pytest.fixture(scope="module")
def embedded_inputs():
    from saeviz import embedded
    from saeviz.sae.load import flat_inputs, load_sae_dir

    model = embedded.load_model()
    sae = flat_inputs(load_sae_dir(embedded.sae_dir("resid", 2))).eval()
    return EvalInputs(model=model, sae=sae, hook=site_hook("resid", 2), site="resid", layer=2,
                      tokens=None, acts=None, world=embedded.load_toyworld())


def test_embedded_model_does_not_encode_first_letters_and_reports_nothing(embedded_inputs):
    calls = []
    memo = {}

    def remember(name, fn):
        calls.append(name)
        return memo.setdefault(name, fn())

    inputs = EvalInputs(**{**vars(embedded_inputs), "memo": remember})
    spec = A.AbsorptionSpec(max_words_per_letter=8)
    got = A.run_absorption(inputs, spec)
    value = {(r.item, r.metric): r.value for r in got.itertuples()}
    assert value[("", "evaluable")] == 0.0 and value[("", "n_letters")] == 0 and value[("", "n_words")] == 0
    assert value[("", "n_letters_probe_ok")] < spec.min_letters
    assert value[("", "n_vocab")] == 8 * 25 + 5  # x has only 5 words
    assert math.isnan(value[("", "mean_absorption_fraction")]) and math.isnan(value[("", "std_full_absorption")])
    assert sorted(i for i, m in value if m == "probe_f1") == list(A.LETTERS)
    again = A.run_absorption(inputs, spec)  # the probe is the model's: computed once, then remembered
    assert len(set(calls)) == 1 and again.equals(got)


def test_a_prompt_position_off_the_word_is_refused(embedded_inputs):
    with pytest.raises(SaevizError, match="prompt_token_pos"):
        A.run_absorption(embedded_inputs, A.AbsorptionSpec(prompt_token_pos=-5, max_words_per_letter=4))
