"""The shipped embedded default: assets intact, model and SAEs real, toy world well formed.

Runs on the committed assets (no network, CPU, well under a minute)."""

import json
import math
import time

import pytest
import torch

from saeviz import embedded as E
from saeviz.embedded import data, toyworld
from saeviz.embedded_build import metrics
from saeviz.model.loss import ce_loss

HELDOUT_ACCURACY_FLOOR = 0.90  # the target; report.py measures 0.966 on 1,680 prompts


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    return E.load_model()


@pytest.fixture(scope="module")
def world():
    return E.load_toyworld()


def test_assets_match_manifest():
    assert E.is_built()
    checks = E.verify_assets()
    assert len(checks) >= 12 * 2 + 6
    bad = [path for path, ok in checks.items() if not ok]
    assert not bad, f"files differ from manifest.json: {bad}"
    manifest = json.loads((E.ASSETS_DIR / "manifest.json").read_text())
    assert manifest["total_bytes"] < 32_000_000


def test_token_splits_are_bos_led_int32(model):
    calib, ev = E.load_tokens("calibration"), E.load_tokens("eval")
    assert calib.shape == (128, 128) and calib.dtype == torch.int32
    assert ev.shape[1] == 128 and ev.shape[0] >= 256 and ev.dtype == torch.int32
    bos = model.tokenizer.bos_token_id
    assert (calib[:, 0] == bos).all() and (ev[:, 0] == bos).all()
    assert int(model.to_tokens("hello")[0, 0]) == bos
    with pytest.raises(ValueError):
        E.load_tokens("train")


def test_model_loads_fast_and_beats_unigram(model):
    t0 = time.perf_counter()
    E.load_model()
    assert time.perf_counter() - t0 < 2.0
    assert not model.training
    rows = E.load_tokens("eval")[:48]
    loss, unigram = ce_loss(model, rows, 64), metrics.unigram_entropy(rows[:, 1:])
    assert loss < unigram - 1.5, (loss, unigram)


def test_toyworld_templates_and_entities_are_split(world):
    from saeviz.embedded import toyworld_templates as T

    for attr, split in world["templates"].items():
        train = {t["text"] for t in split["train"]}
        held = {t["text"] for t in split["heldout"]}
        novel = {t["text"] for t in split["novel"]}
        assert train and held and novel and not train & held and not (train | held) & novel, attr
        assert {t["kind"] for t in split["heldout"]} == set(toyworld.KINDS_ORDER), attr
        assert all(toyworld.promptable(t) for t in split["heldout"] + split["novel"]), attr
        # a held-out template is a new sentence, but its frame and parts all occur in training templates
        parts = {c["text"]: set(c["parts"].items()) for k in T.KINDS for c in T.combinations(attr, k)}
        trained = set().union(*(parts[t] for t in train))
        assert all(parts[t] <= trained for t in held), attr
    for kind, names in world["heldout_entities"].items():
        pool = {e["name"] for e in world["entities"][kind]}
        assert names and set(names) <= pool
    prompts = toyworld.fact_prompts(world, "heldout", "train")
    held_names = {n for names in world["heldout_entities"].values() for n in names}
    assert prompts and not {p["entity"] for p in prompts} & held_names


def _accuracy(model, world, which: str, per_cell: int) -> tuple[float, dict]:
    from saeviz.embedded_build.report import sample_prompts

    prompts = sample_prompts(toyworld.fact_prompts(world, which, "train"), per_cell=per_cell, seed=1)
    correct = metrics.fact_accuracy(model, model.tokenizer, prompts)
    return sum(correct) / len(correct), metrics.accuracy_table(prompts, correct)


def test_toyworld_facts_are_known_on_training_templates(model, world):
    acc, table = _accuracy(model, world, "train", per_cell=2)
    assert acc >= 0.95, table


def test_toyworld_heldout_template_accuracy(model, world):
    # Held-out templates are sentences never trained on (new frame + relation-phrasing pairs); a
    # sample of 140 prompts, so the floor sits several standard errors below the measured 0.966.
    acc, table = _accuracy(model, world, "heldout", per_cell=5)
    assert acc >= HELDOUT_ACCURACY_FLOOR, table


def test_every_sae_loads_with_matching_width(model):
    from sae_lens import SAE

    saes = E.available_saes()
    assert saes == [(s, layer) for s in E.SITE_HOOKS for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(E.load_tokens("eval")[:1].long())
    for site, layer in saes:
        sae = SAE.load_from_disk(str(E.sae_dir(site, layer)), device="cpu")
        hook = E.SITE_HOOKS[site].format(layer=layer)
        meta = sae.cfg.metadata
        assert meta.hook_name == hook and meta.prepend_bos is True and meta.context_size == 128
        assert meta.model_name == model.cfg.model_name
        assert sae.cfg.d_in == cache[hook].flatten(2).shape[-1]
        assert (E.sae_dir(site, layer) / "training.json").is_file()


@pytest.mark.parametrize("layer", range(4))
def test_resid_saes_explain_variance(model, layer):
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(E.sae_dir("resid", layer)), device="cpu")
    m = metrics.sae_figures(model, sae, E.SITE_HOOKS["resid"].format(layer=layer), E.load_tokens("eval")[:16])
    assert m["explained_variance"] >= 0.8 and m["l0"] <= 64, m


def test_explained_variance_hand_case():
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0]])  # centred: [[-1,-1],[1,1]], total 4
    x_hat = torch.tensor([[1.0, 1.0], [3.0, 2.0]])  # residual 1
    assert math.isclose(metrics.explained_variance(x, x_hat), 0.75, rel_tol=1e-6)


def test_unigram_entropy_hand_case():
    assert math.isclose(metrics.unigram_entropy(torch.tensor([1, 1, 2, 2])), math.log(2), rel_tol=1e-6)


def test_pack_rows_are_bos_led():
    rows = data.pack([[5, 6, 7], [8, 9]], sep_id=0, seq_len=4)
    assert rows.tolist() == [[0, 5, 6, 7], [0, 0, 8, 9]]


def test_split_prompt_puts_answer_after_prompt():
    prompt, answer = toyworld.split_prompt("Where is {x}? It is in {a}.", {"name": "Lyon"}, "France")
    assert (prompt, answer) == ("Where is Lyon? It is in", " France")


def test_training_rows_for_retraining_are_rebuilt_from_the_shipped_corpus(tmp_path, monkeypatch):
    from saeviz.embedded import recipe
    from saeviz.tokens.tokenset import load_split

    monkeypatch.setattr(recipe, "CACHE_DIR", tmp_path)  # force a rebuild, not a cached copy
    rows = load_split("embedded", "train")
    assert rows.shape[1] == 128 and rows.shape[0] > 10_000
    assert (rows[:, 0] == E.load_tokenizer().bos_token_id).all()
    assert (tmp_path / "train_rows.safetensors").is_file()


def test_template_parts_compose_into_sentences():
    from saeviz.embedded import toyworld_templates as T

    assert (T.compose("Everyone knows that {s}.", "city", {"statement": "The city of {x} lies in {a}"})
            == "Everyone knows that the city of {x} lies in {a}.")
    assert T.compose("{E}: {x}\n{Label}: {a}.", "person", {"label": "Birthplace"}) == "Name: {x}\nBirthplace: {a}."
    for attr in T.PARTS:
        for kind in T.KINDS:
            combos = T.combinations(attr, kind)
            assert len({c["text"] for c in combos}) == len(combos) >= 16, (attr, kind)
            assert all(c["text"].count("{a}") == 1 and "{x}" in c["text"] for c in combos), (attr, kind)
            assert not any(slot in c["text"] for c in combos for slot in ("{S}", "{s}", "{Q}", "{L}", "{label}"))
