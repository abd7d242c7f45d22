"""Per-latent statistics on hand-made activations whose answers are known."""

import pandas as pd
import pytest
import torch

from saeviz.errors import SaevizError
from saeviz.features.stats import (
    FeatureSpec,
    LatentAccumulator,
    band_edges_FB,
    best_concepts,
    concept_scores,
    decoder_in_resid,
    find_mentions,
    histogram_FB,
    logit_effects,
    mention_tokens,
    quantile_ranks,
    summarize,
    top_token_labels,
)


def _run(acts_NTF, tokens_NT, spec, keep_NT=None, chunk=1, **acc_kwargs):
    N, T, F = acts_NTF.shape
    acc = LatentAccumulator(F, spec.top_k, T, **acc_kwargs)
    keep = torch.ones(N, T, dtype=torch.bool) if keep_NT is None else keep_NT
    for start in range(0, N, chunk):  # chunked as the real pass is: results must not depend on the chunking
        acc.update(acts_NTF[start : start + chunk], keep[start : start + chunk], start)
    return acc, summarize(acc, tokens_NT, spec)


def test_spec_validation_says_what_to_change():
    with pytest.raises(ValueError, match="top_k"):
        FeatureSpec(top_k=0)
    with pytest.raises(ValueError, match="n_sequences"):
        FeatureSpec(n_sequences=0)
    assert FeatureSpec(before=2, after=1).window == 4


def test_latent_firing_on_one_token_id():
    """Latent 0 fires 1.5 exactly where token 7 stands; latent 1 never fires."""
    tokens = torch.tensor([[1, 7, 2, 3], [4, 5, 6, 7], [1, 2, 3, 4]])
    acts = torch.zeros(3, 4, 2)
    acts[..., 0] = (tokens == 7).float() * 1.5
    spec = FeatureSpec(top_k=5, before=2, after=1, n_bins=4, n_bands=2, per_band=1)
    _, t = _run(acts, tokens, spec)
    lat = t.latents.set_index("latent")
    assert lat.loc[0, "n_active"] == 2 and lat.loc[0, "density"] == pytest.approx(2 / 12)
    assert lat.loc[0, "max_act"] == 1.5 and lat.loc[0, "mean_active"] == 1.5 and lat.loc[1, "n_active"] == 0
    assert t.arrays["hist"][0].tolist() == [0, 0, 0, 2] and t.arrays["hist"][1].tolist() == [0, 0, 0, 0]
    top = t.examples[(t.examples["latent"] == 0) & (t.examples["kind"] == "top")]
    assert set(zip(top["seq"], top["pos"])) == {(0, 1), (1, 3)} and (top["act"] == 1.5).all()
    assert not (t.examples["latent"] == 1).any()  # a silent latent has no examples
    rows = {(s, p): i for i, (s, p) in enumerate(zip(t.examples["seq"], t.examples["pos"])) if t.examples["kind"][i] == "top"}
    # window of 2 before, 1 after; -1 marks positions outside the sequence
    assert t.arrays["window_tokens"][rows[0, 1]].tolist() == [-1, 1, 7, 2]
    assert t.arrays["window_acts"][rows[0, 1]].tolist() == [0.0, 0.0, 1.5, 0.0]
    assert t.arrays["window_tokens"][rows[1, 3]].tolist() == [5, 6, 7, -1]
    off = t.arrays["example_offsets"]
    assert off.tolist()[-1] == len(t.examples) and off[1] - off[0] == (t.examples["latent"] == 0).sum()


def test_top_k_keeps_the_largest_per_sequence_maximum_across_chunks():
    acts = torch.zeros(4, 3, 1)
    acts[0, 2, 0], acts[1, 0, 0], acts[1, 1, 0], acts[2, 1, 0], acts[3, 0, 0] = 1.0, 4.0, 5.0, 3.0, 2.0
    tokens = torch.arange(12).view(4, 3)
    _, t = _run(acts, tokens, FeatureSpec(top_k=2, before=0, after=0))
    top = t.examples[t.examples["kind"] == "top"]
    # one context per sequence (sequence 1's max 5.0 at pos 1, not also its 4.0), in descending order
    assert list(zip(top["seq"], top["pos"], top["act"])) == [(1, 1, 5.0), (2, 1, 3.0)]
    assert t.arrays["window_tokens"][top.index].flatten().tolist() == [4, 7]


def test_special_positions_count_as_silent():
    acts = torch.ones(1, 3, 1)
    keep = torch.tensor([[False, True, True]])
    _, t = _run(acts, torch.zeros(1, 3, dtype=torch.long), FeatureSpec(), keep_NT=keep)
    assert t.latents["n_active"][0] == 2 and t.latents["density"][0] == 1.0  # density over the 2 kept tokens


def test_quantile_bands_and_samples_are_exact_ranks():
    """Values 1..10 of one latent: 2 bands x 2 samples take ranks 1,3 and 6,8 (0-based) of the sorted values."""
    acts = torch.arange(1, 11, dtype=torch.float32).view(1, 10, 1)
    _, t = _run(acts, torch.zeros(1, 10, dtype=torch.long), FeatureSpec(n_bands=2, per_band=2, before=0, after=0, n_bins=5))
    quant = t.examples[t.examples["kind"] == "quantile"]
    assert quant["band"].tolist() == [0, 0, 1, 1] and quant["act"].tolist() == [2.0, 4.0, 7.0, 9.0]
    assert quant["pos"].tolist() == [1, 3, 6, 8]
    assert t.arrays["band_edges"][0].tolist() == [1.0, 6.0, 10.0]
    assert t.arrays["hist"][0].tolist() == [2, 2, 2, 2, 2]  # bins (0,2], (2,4], ... (8,10]


def test_quantile_samples_do_not_repeat_when_a_latent_fires_rarely():
    acts = torch.zeros(1, 4, 1)
    acts[0, 2, 0] = 3.0
    _, t = _run(acts, torch.zeros(1, 4, dtype=torch.long), FeatureSpec(n_bands=5, per_band=5))
    assert (t.examples["kind"] == "quantile").sum() == 1


def test_pure_helpers_on_hand_cases():
    assert quantile_ranks(torch.tensor([4, 0]), 2, 1).tolist() == [[[1], [3]], [[0], [0]]]
    hist = histogram_FB(torch.tensor([0, 0, 0, 1]), torch.tensor([0.1, 0.5, 1.0, 2.0]), torch.tensor([1.0, 2.0]), 2)
    assert hist.tolist() == [[2, 1], [0, 1]]  # latent 0's bins (0, .5], (.5, 1]: 0.5 sits on bin 0's upper edge
    edges = band_edges_FB(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0]), torch.tensor([4]), 2)
    assert edges.tolist() == [[1.0, 3.0, 4.0]]


def test_too_dense_an_sae_is_refused_with_advice():
    acc = LatentAccumulator(4, 2, 3, max_nonzero=5)
    with pytest.raises(SaevizError, match="n_sequences"):
        acc.update(torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.bool), 0)


def test_logit_effects_through_the_norm_scale():
    W_U = torch.eye(3, 4)  # token v's logit reads dimension v (token 3 reads nothing)
    dirs = torch.tensor([[1.0, -2.0, 0.5]])
    out = logit_effects(dirs, W_U, ln_scale_D=torch.tensor([1.0, 1.0, 4.0]), k=2)
    assert out["pos_ids"].tolist() == [[2, 0]] and out["pos_vals"].tolist() == [[2.0, 1.0]]
    assert out["neg_ids"].tolist() == [[1, 3]] and out["neg_vals"].tolist() == [[-2.0, 0.0]]
    centred = logit_effects(torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), W_U, center=True, k=1)
    assert centred["neg_vals"][0].tolist() == [-1.0]  # 3 - mean 1 on dim 0, 0 - 1 elsewhere
    assert centred["pos_ids"][1].tolist() == [-1]  # a decoder row pruned away writes nothing


def test_decoder_in_resid_goes_through_W_O_for_hook_z():
    W_O = torch.zeros(2, 1, 3)  # 2 heads of d_head 1 writing to dims 0 and 2
    W_O[0, 0, 0], W_O[1, 0, 2] = 1.0, 2.0
    assert decoder_in_resid(torch.tensor([[1.0, 1.0]]), W_O).tolist() == [[1.0, 0.0, 2.0]]


def test_find_mentions_and_their_tokens():
    tokens = torch.tensor([[1, 2, 3, 1, 2], [2, 3, 4, 5, 1]])
    start, length, pid = find_mentions(tokens, [(1, 2), (3,), (4, 5)])
    found = sorted(zip(start.tolist(), length.tolist(), pid.tolist()))
    assert found == [(0, 2, 0), (2, 1, 1), (3, 2, 0), (6, 1, 1), (7, 2, 2)]
    # a mention inside a longer one ('Paris' inside ' Paris') is dropped; the same pattern alone is kept
    start, length, pid = find_mentions(torch.tensor([[1, 2, 9, 2]]), [(2,), (1, 2)])
    assert sorted(zip(start.tolist(), length.tolist(), pid.tolist())) == [(0, 2, 1), (3, 1, 0)]
    tok, mention = mention_tokens(torch.tensor([0, 7]), torch.tensor([2, 2]))
    assert tok.tolist() == [0, 1, 7, 8] and mention.tolist() == [0, 0, 1, 1]


def test_concept_precision_and_recall():
    # 3 mentions: m0, m1 of concept 0 ("France"), m2 of concept 1; latent 0 fires once in m0, once in m1
    # and on 2 tokens outside any mention; latent 1 fires on m2 only
    fire_MF = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    concept_MC = torch.tensor([[1, 0], [1, 0], [0, 1]])
    p, r, f1 = concept_scores(fire_MF, concept_MC, count_F=torch.tensor([4, 2]))
    assert p.tolist() == [[0.5, 0.0], [0.0, 1.0]] and r.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert f1[0, 0].item() == pytest.approx(2 / 3)
    best = best_concepts(p, r, f1, ["France", "Italy"], torch.tensor([2, 1]), min_mentions=2)
    assert best["concept"].tolist() == ["France", ""]  # Italy has too few mentions to name a latent


def test_labels_rank_tokens_by_summed_activation():
    examples = pd.DataFrame({"latent": [0, 0, 0, 1], "kind": ["top"] * 3 + ["quantile"], "act": [1.0, 1.0, 3.0, 9.0]})
    labels = top_token_labels(examples, torch.tensor([5, 5, 6, 7]), vocab=[str(i) for i in range(5)] + [" Paris", " Lyon", "x"], n=1)
    assert labels.loc[0, "label"] == "Lyon" and labels.loc[0, "top_tokens"] == "Lyon|Paris"
    assert 1 not in labels.index  # quantile samples do not name a latent


def test_tiny_sae_through_the_workbench_fires_only_on_its_token(tiny_model, make_sae, tmp_path, monkeypatch):
    """End to end through feature_jobs: a latent reading a direction only token 7's embedding has.

    Block 0 writes nothing and positions embed to 0, so blocks.0.hook_resid_post is the token embedding;
    the cached activations drop BOS rows, and the pass must put every activation back at its position."""
    from saeviz.pipeline import feature_jobs as fj
    from saeviz.pipeline.workbench import Workbench
    from saeviz.sae.variants import VariantSpec
    from saeviz.specs import DENSE, ModelSpec
    from saeviz.store.db import Store

    with torch.no_grad():
        for name, p in tiny_model.blocks[0].named_parameters():
            if name in ("attn.W_O", "attn.b_O", "mlp.W_out", "mlp.b_out"):
                p.zero_()
        tiny_model.W_pos.zero_()
        tiny_model.W_E[:, 0] = 0.0
        tiny_model.W_E[7, 0] = 1.0
    # the tiny model has no tokenizer: declare token 0 special (BOS), as a tokenizer would
    import saeviz.model.activations

    monkeypatch.setattr(saeviz.model.activations, "special_token_ids", lambda model: [0])
    monkeypatch.setattr(fj, "special_token_ids", lambda model: [0])
    sae = make_sae("standard", 32, 2, "blocks.0.hook_resid_post")
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
        sae.W_enc[0, 0], sae.W_enc[0, 1] = 1.5, -1.0  # latent 0: 1.5 on token 7; latent 1 never fires
        sae.W_dec[0, 0] = 1.0
    tokens = torch.tensor([[0, 7, 3, 4, 5, 6], [0, 1, 2, 3, 7, 2], [0, 1, 2, 3, 4, 5]])
    bench = Workbench(ModelSpec(name="tiny"), Store(tmp_path), model=tiny_model, tokens={"eval": tokens})
    monkeypatch.setattr(fj, "sae_of", lambda *args, **kw: sae)
    spec = FeatureSpec(top_k=5, before=2, after=1, n_bins=4, n_bands=1, per_band=2)
    t = fj.feature_tables(bench, DENSE, "resid", 0, VariantSpec("dense"), spec)
    lat = t.latents.set_index("latent")
    assert lat.loc[0, "n_active"] == 2 and lat.loc[0, "density"] == pytest.approx(2 / 15)  # 15 non-BOS tokens
    assert lat.loc[0, "max_act"] == pytest.approx(1.5) and lat.loc[1, "n_active"] == 0
    assert t.arrays["hist"][0].tolist() == [0, 0, 0, 2]
    record = fj.latent_record(t, fj.vocabulary(bench), 0)
    assert record["label"] == "7" and record["name"] == "7"  # without a tokenizer a token's text is its id
    contexts = {(c["seq"], c["pos"]): c for c in record["top_contexts"]}
    assert set(contexts) == {(0, 1), (1, 4)}
    assert contexts[0, 1]["tokens"] == ["0", "7", "3"] and contexts[0, 1]["acts"] == [0.0, 1.5, 0.0]
    assert contexts[0, 1]["first_pos"] == 0 and contexts[0, 1]["center"] == 1
    assert contexts[1, 4]["tokens"] == ["2", "3", "7", "2"] and contexts[1, 4]["first_pos"] == 2
    # the decoder row e_0, centred by the final LayerNorm and scaled by its weight, read by W_U
    direction = (torch.eye(32)[0] - 1 / 32) * tiny_model.ln_final.w.detach()
    logits = direction @ tiny_model.W_U.detach()
    assert record["logits"]["positive"][0]["token"] == str(int(logits.argmax()))
    assert record["logits"]["negative"][0]["value"] == pytest.approx(logits.min().item(), abs=1e-4)
    # computed once, then read: a second request must not run the pass again
    monkeypatch.setattr(fj, "compute_tables", lambda *a, **k: pytest.fail("recomputed a cached result"))
    again = fj.feature_tables(bench, DENSE, "resid", 0, VariantSpec("dense"), spec)
    assert again.latents["n_active"].tolist() == t.latents["n_active"].tolist()


class _CharTokenizer:
    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


def test_toy_world_concepts_name_a_latent_firing_on_one_countrys_cities():
    """Cities 'Ab' and 'Cd' are in France, 'Ef' in Italy; latent 0 fires on the French city names only."""
    from saeviz.pipeline.feature_jobs import concept_patterns

    world = {"entities": {"cities": [{"name": n, "country": c, "continent": "Europe", "language": "x"}
                                     for n, c in (("Ab", "France"), ("Cd", "France"), ("Ef", "Italy"))]}}
    patterns, concept_PC, names = concept_patterns(world, _CharTokenizer())
    assert (ord(" "), ord("A"), ord("b")) in patterns and {"any city", '"Ab" (city)', "cities in France"} <= set(names)
    text = " Ab, Cd, Ef. Ab"
    tokens = torch.tensor([[ord(c) for c in text]])
    start, length, pattern = find_mentions(tokens, patterns)
    tok, mention = mention_tokens(start, length)
    french = torch.isin(tokens[0], torch.tensor([ord(c) for c in "AbCd"]))
    acts = torch.stack([french.float(), torch.zeros(len(text))], dim=1)[None]  # [1, T, 2]
    acc = LatentAccumulator(2, 3, len(text), mention_tok_P=tok, mention_id_P=mention, n_mentions=len(start))
    acc.update(acts, torch.ones(1, len(text), dtype=torch.bool), 0)
    p, r, f1 = concept_scores(acc.fire_MF, concept_PC[pattern], torch.tensor([int(french.sum()), 0]))
    best = best_concepts(p, r, f1, names, concept_PC[pattern].sum(0), min_mentions=1)
    assert best.loc[0, "concept"] == "cities in France"
    assert best.loc[0, "concept_precision"] == 1.0 and best.loc[0, "concept_recall"] == 1.0
    assert best.loc[1, "concept"] == ""  # a silent latent tracks nothing
