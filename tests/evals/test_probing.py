"""Sparse probing and the shared text activations (saeviz.evals.probing), and the toy-world datasets."""

import math
import re

import pytest
import torch

from saeviz.errors import SaevizError
from saeviz.evals import probing as P
from saeviz.evals import toy_datasets as T
from saeviz.evals.base import EvalInputs
from saeviz.specs import site_hook


def test_segment_mean_by_hand():
    values = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    got = P.segment_mean(values, torch.tensor([0, 0, 2]), 3)
    assert torch.equal(got[0], torch.tensor([2.0, 3.0])) and torch.equal(got[2], torch.tensor([10.0, 0.0]))
    assert torch.isnan(got[1]).all()  # a row without tokens


def test_pooled_latents_equal_sae_bench_on_zero_padded_rows(make_sae):
    from sae_bench.sae_bench_utils.activation_collection import get_sae_meaned_activations

    sae = make_sae("topk", 8, 16, "blocks.0.hook_resid_post")
    acts_BLD = torch.randn(4, 5, 8, generator=torch.Generator().manual_seed(0))
    lengths = [5, 3, 1, 4]
    for b, n in enumerate(lengths):
        acts_BLD[b, n:] = 0.0  # sae_bench's zeroed BOS/PAD positions
    with torch.no_grad():
        expected = get_sae_meaned_activations({"c": acts_BLD}, sae, sae_batch_size=3)["c"]
    keep = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    row = torch.arange(4)[:, None].expand(4, 5)[keep]
    assert torch.allclose(P.pooled_latents(sae, acts_BLD[keep], row, 4), expected, atol=1e-5)


def test_train_class_probes_matches_sae_bench_and_works_where_its_sklearn_path_fails():
    from beartype.roar import BeartypeCallHintParamViolation
    from sae_bench.evals.sparse_probing.probe_training import train_probe_on_activations

    gen = torch.Generator().manual_seed(0)
    # class c lifts dimension c: a 1-dimension probe on the largest mean difference separates it exactly
    train = {c: torch.randn(20, 6, generator=gen) * 0.1 + 3 * torch.eye(6)[i] for i, c in enumerate("abc")}
    test = {c: torch.randn(10, 6, generator=gen) * 0.1 + 3 * torch.eye(6)[i] for i, c in enumerate("abc")}
    _, accuracies = P.train_class_probes(train, test, list("abc"), select_top_k=1)
    assert accuracies == {"a": 1.0, "b": 1.0, "c": 1.0}
    gpu = {"batch_size": 8, "epochs": 10, "lr": 1e-2}
    with P.seeded(1):
        _, ours = P.train_class_probes(train, test, list("abc"), use_sklearn=False, **gpu)
    with P.seeded(1), P.probe_work():
        _, theirs = train_probe_on_activations(train, test, use_sklearn=False, **gpu)
    assert ours == theirs
    # sae_bench 0.6's own sklearn path (jaxtyping 0.3, beartype 0.23): the reason train_class_probes exists
    with pytest.raises(BeartypeCallHintParamViolation), P.probe_work():
        train_probe_on_activations(train, test, select_top_k=1)


def test_toy_biographies_keep_the_planted_correlation_and_fill_every_cell():
    from saeviz.embedded import load_toyworld

    world = load_toyworld()
    frame = T.bios_frame(world, "train", per_cell=20, seed=0)
    assert frame.groupby(["profession", "gender"]).size().min() >= 20
    names = T.professions(world)
    female_coded = frame["profession"].map(lambda i: names[i] in world["biographies"]["female_coded_professions"])
    matches = (female_coded == (frame["gender"] == T.GENDER_IDS["female"])).mean()
    assert matches == pytest.approx(world["biographies"]["correlation"], abs=0.02)
    assert frame.equals(T.bios_frame(world, "train", per_cell=20, seed=0))  # seeded
    train, test = T.scr_texts(world, ("pilot", "teacher"), 40, 20, seed=0)
    assert {len(v) for v in train.values()} == {20} and {len(v) for v in test.values()} == {10}
    assert all("pilot" in t for t in train["male_professor / female_nurse"])
    she = re.compile(r"\b(she|her)\b", re.IGNORECASE)
    assert all(she.search(t) for t in train["female_data_only"])
    assert not any(she.search(t) for t in train["male / female"])


def test_a_world_without_counter_stereotypes_is_refused():
    from saeviz.embedded import load_toyworld

    world = load_toyworld()
    world["biographies"] = {**world["biographies"], "correlation": 1.0}
    with pytest.raises(SaevizError, match="bio_correlation"):
        T.bios_frame(world, "train", per_cell=1, seed=0)


@pytest.fixture(scope="module")
def embedded_inputs():
    from saeviz import embedded
    from saeviz.sae.load import flat_inputs, load_sae_dir

    return EvalInputs(model=embedded.load_model(), sae=flat_inputs(load_sae_dir(embedded.sae_dir("mlp", 2))).eval(),
                      hook=site_hook("mlp", 2), site="mlp", layer=2, tokens=None, acts=None,
                      world=embedded.load_toyworld())


def test_packed_activations_give_sae_bench_means(embedded_inputs):
    from sae_bench.sae_bench_utils.activation_collection import create_meaned_model_activations, get_llm_activations
    from sae_bench.sae_bench_utils.dataset_utils import tokenize_data_dictionary

    model, hook = embedded_inputs.model, embedded_inputs.hook
    texts = ["Anna Smith is a nurse.", "Meet Tom Reed, a pilot from Oslo. He has worked as a pilot for 3 years."]
    tokens = tokenize_data_dictionary({"c": texts}, model.tokenizer, 32, "cpu")["c"]["input_ids"]
    with P.probe_work():
        padded = get_llm_activations(tokens, model, 2, 2, hook, mask_bos_pad_eos_tokens=True, show_progress=False)
    expected = create_meaned_model_activations({"c": padded})["c"]
    acts, row = P.packed_activations(model, hook, texts, 32, batch_size=1)
    assert torch.allclose(P.segment_mean(acts, row, 2), expected, atol=1e-5)


def test_sparse_probing_runs_on_the_embedded_mlp_site(embedded_inputs):
    store = {}

    def memo(name, fn):
        if name not in store:
            store[name] = fn()
        return store[name]

    inputs = EvalInputs(**{**vars(embedded_inputs), "memo": memo})
    spec = P.ProbingSpec(classes=("nurse", "pilot", "teacher"), train_size=64, test_size=32, k_values=(1, 5))
    got = P.run_probing(inputs, spec)
    value = {(r.item, r.metric): r.value for r in got.itertuples()}
    assert set(value) == {("", "llm_test_accuracy"), ("", "sae_test_accuracy")} | {
        (f"k={k}", m) for k in (1, 5) for m in ("llm_top_k_test_accuracy", "sae_top_k_test_accuracy")}
    assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in value.values())
    # the profession is written in every biography: a probe on all dimensions beats chance (0.5) clearly
    assert value[("", "llm_test_accuracy")] > 0.7
    assert len(store) == 2  # the class activations and the model's probes, both model-only
    assert P.run_probing(inputs, spec).equals(got)


def test_probing_without_world_or_hub_says_so(embedded_inputs, monkeypatch):
    from saeviz.model import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    try:
        with pytest.raises(SaevizError, match="unreachable"):
            P.run_probing(EvalInputs(**{**vars(embedded_inputs), "world": None}), P.ProbingSpec())
    finally:
        hub.hub_reachable.cache_clear()
