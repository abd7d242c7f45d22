"""RAVEL: scoring arithmetic, candidate ranking, the interchange on a tiny model, one embedded run."""

import math
import random

import pytest
import torch

from saeviz.errors import SaevizError
from saeviz.evals import ravel as R
from saeviz.evals import ravel_data as D
from saeviz.evals.base import EvalInputs

# ---------------------------------------------------------------- scoring arithmetic


def test_ravel_scores_by_hand():
    # cause: 2 of 4 predictions are the source's value; isolation: 2 of 3 keep the base's value
    s = D.ravel_scores(["A", "B", "B", "C"], ["A", "A", "B", "B"], ["x", "y", "z"], ["x", "y", "w"])
    assert s["cause"] == 0.5
    assert s["isolation"] == pytest.approx(2 / 3)
    assert s["disentanglement"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_ravel_scores_without_pairs_are_nan():
    s = D.ravel_scores([], [], ["x"], ["x"])
    assert math.isnan(s["cause"]) and s["isolation"] == 1.0 and math.isnan(s["disentanglement"])


def test_summarize_averages_within_classes_then_over_classes():
    per = {"city.a": {"cause": 1.0}, "city.b": {"cause": 0.0}, "city.c": {"cause": 0.5},
           "person.a": {"cause": 0.2}, "person.b": {"cause": 0.4}, "person.c": {"cause": math.nan}}
    # city mean 0.5, person mean 0.3 (NaN skipped) -> 0.4; a flat mean would give 2.1 / 5 = 0.42
    assert D.summarize(per, metrics=("cause",))["cause"] == pytest.approx(0.4)


def test_cause_pairs_differ_in_value_and_bases_are_distinct():
    values = ["a", "a", "b", "c", "c", "c"]
    pairs = D.cause_pairs(values, 4, random.Random(0))
    assert len(pairs) == 4 and len({b for b, _ in pairs}) == 4
    assert all(values[b] != values[s] for b, s in pairs)
    assert D.cause_pairs(["a", "a", "a"], 3, random.Random(0)) == []


def test_isolation_pairs_mix_attributes_and_keep_n():
    pairs = D.isolation_pairs({"x.b": ["u", "v"] * 5, "x.c": ["p", "q", "r"] * 3}, 6, random.Random(1))
    assert len(pairs) == 6 and {a for a, _, _ in pairs} <= {"x.b", "x.c"}
    vals = {"x.b": ["u", "v"] * 5, "x.c": ["p", "q", "r"] * 3}
    assert all(vals[a][b] != vals[a][s] for a, b, s in pairs)


def test_length_batches_cover_each_epoch():
    items = list(range(10))
    batches = D.length_batches(items, lambda i: i % 3, 4, 6, random.Random(0))
    assert len(batches) == 6 and all(1 <= len(b) <= 4 for b in batches)
    first_epoch = [i for b in batches[:3] for i in b]  # 10 items -> batches of 4, 4, 2
    assert sorted(first_epoch) == items


# ---------------------------------------------------------------- prompts and candidates


class WordTokenizer:
    """A tokenizer whose encodings are given by a table (for hand-checked candidate layouts)."""

    bos_token_id = 1
    is_fast = False

    def __init__(self, table):
        self.table = table

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(self.table[text])}


def test_maximal_prefixes_by_hand():
    assert D.maximal_prefixes([(), (6,), (6,), (6, 7), (10,)]) == [(6, 7), (10,)]
    assert D.maximal_prefixes([(), ()]) == [()]


def test_candidate_scores_match_scoring_each_answer_alone(tiny_model):
    table = {" a": [5], " b": [6, 7], " c": [6, 8], " d": [6, 7, 9], " e": [10, 11]}
    cands = D.build_candidates(WordTokenizer(table), ["a", "b", "c", "d", "e"])
    assert cands.branches == ((6, 7), (10,))
    assert cands.tokens("d") == (6, 7, 9)
    prompts = [(1, 2, 3), (1, 4, 5, 6, 7, 8, 9)]
    with torch.no_grad():
        got = R.candidate_scores(tiny_model, prompts, cands, batch_size=3)
        for i, p in enumerate(prompts):
            for k, v in enumerate(cands.values):
                ans = table[" " + v]
                logp = tiny_model(torch.tensor([list(p) + ans]))[0].log_softmax(-1)
                want = sum(float(logp[len(p) - 1 + j, t]) for j, t in enumerate(ans))
                assert float(got[i, k]) == pytest.approx(want, abs=1e-4)


def test_entity_positions_point_at_the_last_entity_token():
    from saeviz.embedded import load_tokenizer

    tok = load_tokenizer()
    head = 'Q: Where is {x}?\nA: {x} is in '
    text = head.replace("{x}", "Rosario")
    ends = D.mention_ends(head, "Rosario")
    assert [text[:e] for e in ends] == ["Q: Where is Rosario", 'Q: Where is Rosario?\nA: Rosario']
    tokens, pos = D.encode_prompt(tok, text.rstrip(), ends)
    assert tokens[0] == tok.bos_token_id and len(pos) == 2
    for p in pos:
        assert tok.decode(list(tokens[1 : p + 1])).endswith("Rosario")
        assert not tok.decode(list(tokens[1:p])).endswith("Rosario")


# ---------------------------------------------------------------- the interchange


def identity_sae(d_in: int, hook_name: str):
    """A ReLU SAE with latents [relu(x), relu(-x)] and decoder [I; -I]: reconstructs x exactly."""
    from tests.conftest import build_sae

    sae = build_sae("standard", d_in, 2 * d_in, hook_name)
    eye = torch.eye(d_in)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_interchange_by_hand():
    sae = identity_sae(2, "blocks.0.hook_resid_post")
    x_base, x_source = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 4.0]])
    z_source = sae.encode(x_source)  # [3, 4, 0, 0]; the base's latents are [1, 0, 0, 2]
    out = R.interchange_BD(sae, x_base, z_source, torch.tensor([1.0, 0, 0, 0]))
    assert out.tolist() == [[3.0, -2.0]]  # only x_0's positive part comes from the source
    out = R.interchange_BD(sae, x_base, z_source, torch.tensor([0.0, 1, 0, 1]))
    assert out.tolist() == [[1.0, 4.0]]  # x_1: the source's +4 in, the base's -2 out


def _act_at(model, hook_name, tokens, hooks=()):
    got = {}

    def grab(act, hook):
        got["act"] = act.clone()

    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[*hooks, (hook_name, grab)])
    return got["act"], logits


@pytest.mark.parametrize("hook_name", ["blocks.0.hook_resid_post", "blocks.1.attn.hook_z"])
def test_interchanging_every_latent_of_an_exact_sae_gives_the_source_activation(tiny_model, tiny_tokens, hook_name):
    sae = identity_sae(32, hook_name)
    base, source, base_pos, source_pos = tiny_tokens[:1], tiny_tokens[1:2], 5, 9
    clean_base, clean_logits = _act_at(tiny_model, hook_name, base)
    src_act, _ = _act_at(tiny_model, hook_name, source)
    x_src = src_act.flatten(2)[0, source_pos] if src_act.dim() == 4 else src_act[0, source_pos]
    hook = R.interchange_hook(sae, torch.tensor([0]), torch.tensor([base_pos]), sae.encode(x_src[None]),
                              torch.ones(64))
    after, logits = _act_at(tiny_model, hook_name, base, [(hook_name, hook)])
    assert torch.equal(after[0, base_pos].flatten(), x_src)  # exactly the source's activation
    keep = [p for p in range(base.shape[1]) if p != base_pos]
    assert torch.equal(after[0, keep], clean_base[0, keep])
    assert not torch.allclose(logits[0, base_pos:], clean_logits[0, base_pos:])  # and the model sees it


@pytest.mark.parametrize("hook_name", ["blocks.0.hook_resid_post", "blocks.1.attn.hook_z"])
def test_interchanging_no_latent_changes_nothing(tiny_model, tiny_tokens, make_sae, hook_name):
    sae = make_sae("topk", 32, 64, hook_name)  # random weights: a large reconstruction error
    base, source = tiny_tokens[:2], tiny_tokens[2:4]
    clean, clean_logits = _act_at(tiny_model, hook_name, base)
    src_act, _ = _act_at(tiny_model, hook_name, source)
    z_src = sae.encode(src_act.flatten(2)[:, 3] if src_act.dim() == 4 else src_act[:, 3]).detach()
    hooks = R._pair_hook(sae, hook_name, [(4,), (2, 6)], z_src, torch.zeros(64))
    after, logits = _act_at(tiny_model, hook_name, base, hooks)
    torch.testing.assert_close(after, clean, atol=1e-6, rtol=0)
    torch.testing.assert_close(logits, clean_logits, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- spec, errors


@pytest.mark.parametrize("kwargs, word", [
    ({"attributes": ("city.country",)}, "one attribute"),
    ({"attributes": ("country",)}, "entity.attribute"),
    ({"n_pairs": 0}, "n_pairs"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"max_latents": -1}, "max_latents"),
])
def test_spec_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        R.RavelSpec(**kwargs)


def _inputs(model, sae, world, hook="blocks.0.hook_resid_post", memo=None):
    kwargs = {"memo": memo} if memo else {}
    return EvalInputs(model=model, sae=sae, hook=hook, site="resid", layer=0, tokens=None, acts=None,
                      world=world, **kwargs)


@pytest.mark.parametrize("online, words", [(False, "unreachable"), (True, "sae_bench_ravel")])
def test_no_world_says_what_to_do(monkeypatch, tiny_model, make_sae, online, words):
    monkeypatch.setattr("saeviz.model.hub.hub_reachable", lambda *a, **k: online)
    with pytest.raises(SaevizError, match="needs a RAVEL prompt set") as err:
        R.run_ravel(_inputs(tiny_model, make_sae("topk", 32, 64, "x"), None), R.RavelSpec())
    assert words in str(err.value)


def test_sae_bench_ravel_refuses_what_it_cannot_run(monkeypatch, make_sae):
    monkeypatch.setattr("saeviz.model.hub.hub_reachable", lambda *a, **k: False)
    resid, mlp = make_sae("topk", 32, 64, "blocks.3.hook_resid_post"), make_sae("topk", 32, 64, "blocks.3.hook_mlp_out")
    with pytest.raises(SaevizError, match="supports gemma-2-2b"):
        R.sae_bench_ravel(resid, "gpt2")
    with pytest.raises(SaevizError, match="hook_resid_post SAE"):
        R.sae_bench_ravel(mlp, "pythia-160m-deduped")
    with pytest.raises(SaevizError, match="unreachable"):
        R.sae_bench_ravel(resid, "pythia-160m-deduped")


# ---------------------------------------------------------------- one run on the embedded default


@pytest.fixture
def one_thread():
    """Small-batch CPU work: on 2 cores shared with other jobs, 2 torch threads ran this test 20x slower
    than 1 (156 s against 8 s, measured) while waiting for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def embedded():
    from saeviz.embedded import load_model, load_toyworld, sae_dir
    from saeviz.sae.load import flat_inputs, load_sae_dir

    return load_model(), flat_inputs(load_sae_dir(sae_dir("resid", 2))), load_toyworld()


def test_run_on_the_embedded_default(embedded, one_thread):
    model, sae, world = embedded
    calls, store = [], {}

    def memo(name, fn):
        if name not in store:
            calls.append(name)
            store[name] = fn()
        return store[name]

    spec = R.RavelSpec(attributes=("city.country", "city.continent", "person.field", "person.gender"),
                       prompts_per_attribute=40, n_pairs=16, n_train_pairs=16, mask_steps=3, batch_size=32)
    inputs = _inputs(model, sae, world, "blocks.2.hook_resid_post", memo)
    df = R.run_ravel(inputs, spec)
    assert list(df.columns) == ["item", "metric", "value"]
    assert set(df["item"]) == {"", *spec.attributes}
    per = df[df["item"] != ""].pivot(index="item", columns="metric", values="value")
    assert set(per.columns) == {"cause", "isolation", "disentanglement", "cause_all_latents", "n_base_prompts",
                                "n_isolation_pairs", "n_latents", "clean_accuracy"}
    for m in ("cause", "isolation", "disentanglement", "cause_all_latents"):
        assert per[m].between(0, 1).all(), m
    assert (per["clean_accuracy"] > 0.8).all()  # the embedded model knows its facts (0.97 on held-out templates)
    assert (per["isolation"] >= 0.5).all()
    assert ((per["n_base_prompts"] >= 8) & (per["n_base_prompts"] <= 16)).all()
    assert ((per["n_latents"] >= 0) & (per["n_latents"] <= 1024)).all()
    top = df[df["item"] == ""].set_index("metric")["value"]
    city, person = per.loc[["city.country", "city.continent"]], per.loc[["person.field", "person.gender"]]
    assert top["cause"] == pytest.approx((city["cause"].mean() + person["cause"].mean()) / 2)
    assert top["n_base_prompts"] == per["n_base_prompts"].sum()
    again = R.run_ravel(inputs, spec)  # same pairs, same mask: same rows; the model tables come from memo
    assert again.equals(df) and len(calls) == 1
