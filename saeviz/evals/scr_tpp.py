"""SCR and TPP (sae_bench's `evals/scr_and_tpp`, Karvonen et al. 2024) on in-process models and SAEs.

Both train linear probes on mean-pooled model activations at the SAE's hook (model-only: memoized per
model variant and hook), rank latents by their effect on a probe (mean latent difference between the
probe's classes times the latent's decoder row projected on the probe), zero-ablate the top n latents
(the SAE's error term kept) and measure probe accuracies again.

* SCR (spurious correlation removal): a probe trained on data where gender predicts profession
  perfectly ('male_professor / female_nurse'); ablating the latents of the gender probe should make it
  a better profession probe (dir1), ablating those of the profession probe a better gender probe
  (dir2). score = (ablated - original) / (clean - original), clean being the accuracy of a probe
  trained for that concept; scr_metric is the direction where the biased probe was worse at first.
* TPP (targeted probe perturbation): per class, ablating its latents should hurt its own probe
  (intended) and not the others' (unintended); tpp_total = intended - mean unintended.

sae_bench's functions do the work: its datasets (or the toy world's in its format, toy_datasets.py),
`prepare_probe_data`, `train_probe_gpu` (its probe hyperparameters), `select_top_n_features`,
`get_probe_test_accuracy`, `get_scr_plotting_dict` and `create_tpp_plotting_dict`. Two parts are
computed differently, with the same result: activations are packed (no padding, see probing.py), and
an ablation is applied to the pooled activations, pooled x - decode_delta(pooled latents on the ablated
set), which equals sae_bench's per-token decode(f_ablated) + (x - decode(f)) averaged over tokens for
any decoder affine in the latents (tests compare both): the SAE encodes each text once instead of once
per (class, n). Padding matters in sae_bench's version: it zeroes BOS/PAD positions but its ablation
does not mask the latents there, and a TopK SAE fires on a zero vector, so ablated decoder rows leak
into the mean. Each accuracy evaluation reseeds the RNG, so clean and ablated accuracies are measured
on the same negative samples (sae_bench draws fresh ones each time).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.evals import probing as P
from saeviz.evals.base import EvalInputs, Evaluation, concat, mean_over, rows
from saeviz.evals.toy_datasets import DEFAULT_CLASSES, DEFAULT_SCR_PAIRS, scr_texts
from saeviz.specs import _help

# sae_bench's fixed SCR keys (dataset_info.PAIRED_CLASS_KEYS), whatever the professions are
PAIRED = {"male / female": "female_data_only", "professor / nurse": "nurse_data_only",
          "male_professor / female_nurse": "female_nurse_data_only"}
SCR_KEYS = list(PAIRED) + list(PAIRED.values())
# get_scr_plotting_dict reads only the ablations of these two probes, evaluated on these four sets
SCR_ABLATED = ["male / female", "professor / nurse"]
SCR_TEST_KEYS = ["male / female", "female_data_only", "professor / nurse", "nurse_data_only"]
BIASED = "male_professor / female_nurse"
PROBE_TEST_BATCH = 500  # sae_bench's probe_test_batch_size


@dataclass(frozen=True)
class _AblationSpec:
    """Fields SCR and TPP share: set sizes, ablation sizes, and sae_bench's probe training."""

    train_size: int = _help("Training texts per probe (sae_bench: 4000), split into quadrants / classes.",
                            default=1000)
    test_size: int = _help("Test texts per probe (sae_bench: 1000).", default=500)
    n_values: tuple[int, ...] = _help("Numbers of top latents zero-ablated (the paper's k).",
                                      default=(2, 5, 10, 20, 50, 100, 500))
    probe_epochs: int = _help("Probe training epochs (sae_bench: 20).", default=20)
    probe_batch_size: int = _help("Probe training batch (sae_bench: 16; it sets how much of the spurious "
                                  "correlation a probe learns: change with care).", default=16)
    probe_lr: float = _help("Probe learning rate (sae_bench: 1e-3).", default=1e-3)
    probe_l1_penalty: float = _help("Probe L1 penalty (sae_bench: 1e-3).", default=1e-3)
    context_length: int = _help("Tokens kept per text (longer texts are truncated), as sae_bench.", default=128)
    llm_batch_size: int = _help("Texts per model forward pass.", default=64)
    seed: int = _help("Seed of the texts, the probes and the negative samples.", default=42)

    def __post_init__(self):
        if self.train_size < 8 or self.test_size < 8:
            raise ValueError(f"train_size={self.train_size}, test_size={self.test_size}: use at least 8 each.")
        if not self.n_values or min(self.n_values) < 1:
            raise ValueError(f"n_values={self.n_values}: give positive numbers of latents, e.g. (2, 5, 10).")
        if min(self.probe_epochs, self.probe_batch_size, self.llm_batch_size) < 1 or self.context_length < 2:
            raise ValueError("probe_epochs, probe_batch_size, llm_batch_size must be >= 1, context_length >= 2.")

    def probe_kwargs(self) -> dict:
        # sae_bench sets early stopping patience to the epochs, "so we always train for the same amount"
        return {"use_sklearn": False, "batch_size": self.probe_batch_size, "epochs": self.probe_epochs,
                "lr": self.probe_lr, "l1_penalty": self.probe_l1_penalty,
                "early_stopping_patience": self.probe_epochs}


@dataclass(frozen=True)
class ScrSpec(_AblationSpec):
    """Spurious correlation removal: sae_bench's defaults but smaller sets and two profession pairs."""

    pairs: tuple[tuple[str, str], ...] = _help(
        "Toy-world (male-coded, female-coded) profession pairs: the roles of sae_bench's (professor, nurse).",
        default=DEFAULT_SCR_PAIRS[:2])
    hub_dataset: str = _help("sae_bench dataset used when there is no toy world (Hugging Face hub).",
                             default=P.HUB_CLASS_DATASET)
    hub_pairs: tuple[tuple[str, str], ...] = _help("Profession pairs of the hub dataset (sae_bench has four).",
                                                   default=(("professor", "nurse"),))

    def __post_init__(self):
        super().__post_init__()
        for pair in (*self.pairs, *self.hub_pairs):
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"SCR pair {pair}: give two different professions (male-coded, female-coded).")
        if not self.pairs or not self.hub_pairs:
            raise ValueError("pairs and hub_pairs need at least one profession pair each.")


@dataclass(frozen=True)
class TppSpec(_AblationSpec):
    """Targeted probe perturbation: sae_bench's defaults but smaller sets."""

    classes: tuple[str, ...] = _help("Toy-world professions, one probe each (embedded model).",
                                     default=DEFAULT_CLASSES)
    hub_datasets: tuple[str, ...] = _help("sae_bench datasets used when there is no toy world (Hugging Face hub).",
                                          default=(P.HUB_CLASS_DATASET,))

    def __post_init__(self):
        super().__post_init__()
        P.check_data_fields(self)


# ---------------------------------------------------------------- the ablation arithmetic (pure)

def decode_delta(sae):
    """g [rows, d_sae] -> decode(g) - decode(0): what the latents g add to the reconstruction (linear in g
    when the decoder is affine, as for every SAE without run-time input normalisation)."""
    norm = getattr(sae.cfg, "normalize_activations", "none") or "none"
    if norm not in ("none", "expected_average_only_in"):
        raise SaevizError(f"SCR/TPP ablate latents through the SAE's decoder, which must be affine in the latents; "
                          f"this SAE rescales per input (normalize_activations={norm!r}).")
    with torch.no_grad():
        zero_D = sae.decode(torch.zeros(1, sae.cfg.d_sae, device=sae.device, dtype=sae.dtype)).float().cpu()

    def delta(g_RF: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return sae.decode(g_RF.to(sae.device, sae.dtype)).float().cpu() - zero_D

    return delta


def ablated_means(pooled_x_RD: torch.Tensor, pooled_f_RF: torch.Tensor, ablate_F: torch.Tensor, delta) -> torch.Tensor:
    """[rows, d]: mean over tokens of decode(f with ablate_F zeroed) + (x - decode(f)) = x - delta(f on ablate_F)."""
    return pooled_x_RD - delta(pooled_f_RF * ablate_F.to(pooled_f_RF.dtype))


def node_effects(latents: dict[str, torch.Tensor], class_name: str, probe_w_D: torch.Tensor,
                 W_dec_FD: torch.Tensor, perform_scr: bool) -> torch.Tensor:
    """[d_sae]: sae_bench's effect of each latent on a probe: (mean pooled latent over the probe's positive
    texts - over its negatives; TPP keeps the positive side only) x the decoder row's projection on the probe;
    absolute for SCR. ``latents``: pooled latents per sae_bench class key (negatives drawn as sae_bench does)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.sparse_probing.probe_training import prepare_probe_data

    acts_NF, labels_N = prepare_probe_data(latents, class_name, perform_scr)
    diff_F = acts_NF[labels_N == 1].mean(0) - acts_NF[labels_N == 0].mean(0)
    if not perform_scr:
        diff_F = diff_F.clamp(min=0.0)
    effects_F = diff_F * (W_dec_FD.float() @ probe_w_D.float())
    return effects_F.abs() if perform_scr else effects_F


def probe_accuracies(probes: dict, names: list[str], acts: dict[str, torch.Tensor], perform_scr: bool,
                     seed: int) -> dict[str, float]:
    """sae_bench's `get_probe_test_accuracy` (for SCR also the probes across concepts), reseeded."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.main import get_probe_test_accuracy

    with P.seeded(seed), P.probe_work(), torch.no_grad():
        return get_probe_test_accuracy(probes, names, acts, PROBE_TEST_BATCH, perform_scr)


def ablation_accuracies(sae, probes: dict, ablated: list[str], latents_train: dict, x_test: dict, f_test: dict,
                        n_values, perform_scr: bool, seed: int) -> dict[str, dict[int, dict[str, float]]]:
    """{ablated class: {n: accuracies after zero-ablating its top-n latents}}, as sae_bench's
    `perform_feature_ablations` (test sets: the keys of ``x_test``)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.main import select_top_n_features

    delta, W_dec_FD = decode_delta(sae), sae.W_dec.detach().float().cpu()
    out: dict[str, dict[int, dict[str, float]]] = {}
    for name in ablated:
        with P.seeded(seed):
            effects_F = node_effects(latents_train, name, probes[name].net.weight.detach()[0], W_dec_FD, perform_scr)
        out[name] = {}
        for n in n_values:
            with P.probe_work():
                mask_F = select_top_n_features(effects_F, n, name)
            acts = {k: ablated_means(x_test[k], f_test[k], mask_F, delta) for k in x_test}
            out[name][n] = probe_accuracies(probes, ablated, acts, perform_scr, seed)
    return out


# ---------------------------------------------------------------- probes and data (model-only, memoized)

def _probe_tensors(probes: dict, names: list[str]) -> dict[str, torch.Tensor]:
    out = {}
    for j, name in enumerate(names):
        out[f"probe{j}_w"] = probes[name].net.weight.detach()[0].clone()
        out[f"probe{j}_b"] = probes[name].net.bias.detach().clone()
    return out


def _probes(memo: dict[str, torch.Tensor], names: list[str]) -> dict:
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.sparse_probing.probe_training import Probe

    probes = {}
    for j, name in enumerate(names):
        probe = Probe(memo[f"probe{j}_w"].shape[0], torch.float32)
        with torch.no_grad():
            probe.net.weight.copy_(memo[f"probe{j}_w"][None])
            probe.net.bias.copy_(memo[f"probe{j}_b"])
        probes[name] = probe.eval()
    return probes


def _scr_texts(inputs: EvalInputs, spec: ScrSpec, pair, dataset):
    if dataset is None:
        return scr_texts(inputs.world, tuple(pair), spec.train_size, spec.test_size, spec.seed)
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.dataset_creation import get_train_test_data
    from sae_bench.evals.scr_and_tpp.main import COLUMN2_VALS_LOOKUP

    if dataset not in COLUMN2_VALS_LOOKUP:
        raise SaevizError(f"sae_bench's SCR reads {' or '.join(COLUMN2_VALS_LOOKUP)}, not {dataset!r}.")
    return get_train_test_data(dataset, True, spec.train_size, spec.test_size, spec.seed, tuple(pair),
                               COLUMN2_VALS_LOOKUP[dataset])


def _scr_data(inputs: EvalInputs, spec: ScrSpec, pair, dataset) -> dict[str, torch.Tensor]:
    """Packed activations of each split's distinct texts, each SCR key's rows in them ({split}_idx{j}),
    and the three SCR probes (trained on the pooled activations)."""
    def compute():
        out = {}
        for split, texts in zip(("train", "test"), _scr_texts(inputs, spec, pair, dataset)):
            unique = list(dict.fromkeys(t for key in SCR_KEYS for t in texts[key]))
            at = {t: i for i, t in enumerate(unique)}
            out[f"{split}_acts"], out[f"{split}_row"] = P.packed_activations(
                inputs.model, inputs.hook, unique, spec.context_length, spec.llm_batch_size, inputs.progress)
            out[f"{split}_n"] = torch.tensor(len(unique))
            for j, key in enumerate(SCR_KEYS):
                out[f"{split}_idx{j}"] = torch.tensor([at[t] for t in texts[key]])
        pooled = {s: _by_key(P.segment_mean(out[f"{s}_acts"], out[f"{s}_row"], _n_rows(out, s)), out, s)
                  for s in ("train", "test")}
        with P.seeded(spec.seed):
            probes, _ = P.train_class_probes(pooled["train"], pooled["test"], list(PAIRED), perform_scr=True,
                                             **spec.probe_kwargs())
        return {**out, **_probe_tensors(probes, list(PAIRED))}

    fields = {k: v for k, v in vars(spec).items() if k not in ("n_values", "pairs", "hub_pairs", "llm_batch_size")}
    return inputs.memo(P.memo_name("scr", pair=list(pair), dataset=dataset, **fields), compute)


def _n_rows(data: dict, split: str) -> int:
    return int(data[f"{split}_n"])


def _by_key(pooled_RX: torch.Tensor, data: dict, split: str) -> dict[str, torch.Tensor]:
    return {key: pooled_RX[data[f"{split}_idx{j}"]] for j, key in enumerate(SCR_KEYS)}


def _tpp_probes(inputs: EvalInputs, spec: TppSpec, dataset, names: list[str]) -> dict[str, torch.Tensor]:
    def compute():
        data = P.class_data(inputs, spec, dataset)
        train, test = P.pooled_model_acts(data, "train", names), P.pooled_model_acts(data, "test", names)
        with P.seeded(spec.seed):
            probes, _ = P.train_class_probes(train, test, names, perform_scr=False, **spec.probe_kwargs())
        return _probe_tensors(probes, names)

    fields = {k: v for k, v in vars(spec).items() if k not in ("n_values", "llm_batch_size")}
    return inputs.memo(P.memo_name("tpp-probes", dataset=dataset, **fields), compute)


# ---------------------------------------------------------------- SAE-dependent parts and rows

def _check_n(sae, spec) -> None:
    if max(spec.n_values) > sae.cfg.d_sae:
        raise SaevizError(f"n_values up to {max(spec.n_values)} exceed the SAE's {sae.cfg.d_sae} latents: "
                          "drop the larger values.")


def scr_scores(sae, probes: dict, x_test: dict, f_train: dict, f_test: dict, n_values, seed: int) -> dict[str, float]:
    """sae_bench's SCR scores for one profession pair from pooled activations per SCR key: x_test (model),
    f_train / f_test (SAE latents). Adds the biased probe's clean accuracies on profession and gender data."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.main import get_scr_plotting_dict

    clean = probe_accuracies(probes, list(PAIRED), x_test, True, seed)
    accs = ablation_accuracies(sae, probes, SCR_ABLATED, f_train, {k: x_test[k] for k in SCR_TEST_KEYS}, f_test,
                               n_values, True, seed)
    with P.probe_work():
        scores = get_scr_plotting_dict(accs, clean)
    for n in n_values:  # sae_bench sets no scr_metric when the biased probe is equally good both ways
        scores.setdefault(f"scr_metric_threshold_{n}", float("nan"))
    scores["biased_probe_profession_accuracy"] = clean[f"{BIASED} probe on professor / nurse data"]
    scores["biased_probe_gender_accuracy"] = clean[f"{BIASED} probe on male / female data"]
    return scores


def _scr_pair(inputs: EvalInputs, spec: ScrSpec, pair, dataset) -> dict[str, float]:
    data = _scr_data(inputs, spec, pair, dataset)
    n_rows = {s: _n_rows(data, s) for s in ("train", "test")}
    x_test = _by_key(P.segment_mean(data["test_acts"], data["test_row"], n_rows["test"]), data, "test")
    f = {s: _by_key(P.pooled_latents(inputs.sae, data[f"{s}_acts"], data[f"{s}_row"], n_rows[s]), data, s)
         for s in ("train", "test")}
    return scr_scores(inputs.sae, _probes(data, list(PAIRED)), x_test, f["train"], f["test"], spec.n_values, spec.seed)


def run_scr(inputs: EvalInputs, spec: ScrSpec) -> pd.DataFrame:
    """Rows: items 'k=2', ...: scr_dir1, scr_dir2, scr_metric (means over pairs); item '': n_pairs and the
    biased probe's clean accuracies on profession and on gender data (which direction it leaned)."""
    _check_n(inputs.sae, spec)
    if inputs.world is not None:
        jobs = [(pair, None) for pair in spec.pairs]
    else:
        P.require_hub([spec.hub_dataset])
        jobs = [(pair, spec.hub_dataset) for pair in spec.hub_pairs]
    results = []
    for i, (pair, dataset) in enumerate(jobs):
        inputs.progress(i, len(jobs), f"SCR: {pair[0]} / {pair[1]}")
        results.append(_scr_pair(inputs, spec, pair, dataset))
    inputs.progress(len(jobs), len(jobs), "SCR: done")
    mean = mean_over(results)
    frames = [rows(n_pairs=len(jobs), biased_probe_profession_accuracy=mean["biased_probe_profession_accuracy"],
                   biased_probe_gender_accuracy=mean["biased_probe_gender_accuracy"])]
    frames += [rows(item=f"k={n}", **{f"scr_{m}": mean[f"scr_{m}_threshold_{n}"] for m in ("dir1", "dir2", "metric")})
               for n in spec.n_values]
    return concat(frames)


def tpp_scores(sae, probes: dict, names: list[str], x_test: dict, f_train: dict, f_test: dict, n_values,
               seed: int) -> dict[str, float]:
    """sae_bench's TPP means over classes (tpp_threshold_{n}_total_metric, ..._intended_diff_only,
    ..._unintended_diff_only) from pooled activations per class, and the probes' clean mean accuracy."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.main import create_tpp_plotting_dict

    clean = probe_accuracies(probes, names, x_test, False, seed)
    accs = ablation_accuracies(sae, probes, names, f_train, x_test, f_test, n_values, False, seed)
    overall, _ = create_tpp_plotting_dict(accs, clean)
    overall["llm_test_accuracy"] = sum(clean.values()) / len(clean)
    return overall


def _tpp_dataset(inputs: EvalInputs, spec: TppSpec, dataset) -> dict[str, float]:
    names = P.class_names(spec, dataset)
    probes = _probes(_tpp_probes(inputs, spec, dataset, names), names)
    data = P.class_data(inputs, spec, dataset)
    f_train, f_test = (P.pooled_sae_acts(inputs.sae, data, s, names) for s in ("train", "test"))
    return tpp_scores(inputs.sae, probes, names, P.pooled_model_acts(data, "test", names), f_train, f_test,
                      spec.n_values, spec.seed)


def run_tpp(inputs: EvalInputs, spec: TppSpec) -> pd.DataFrame:
    """Rows: items 'k=2', ...: tpp_total, tpp_intended, tpp_unintended (means over classes, then datasets);
    item '': the probes' clean test accuracy and the number of classes."""
    _check_n(inputs.sae, spec)
    sources = P.datasets(inputs, spec)
    results = []
    for i, dataset in enumerate(sources):
        inputs.progress(i, len(sources), f"TPP: {dataset or 'toy-world professions'}")
        results.append(_tpp_dataset(inputs, spec, dataset))
    inputs.progress(len(sources), len(sources), "TPP: done")
    mean = mean_over(results)
    n_classes = len(P.class_names(spec, sources[0]))
    parts = {"total": "total_metric", "intended": "intended_diff_only", "unintended": "unintended_diff_only"}
    frames = [rows(llm_test_accuracy=mean["llm_test_accuracy"], n_classes=n_classes)]
    frames += [rows(item=f"k={n}", **{f"tpp_{m}": mean[f"tpp_threshold_{n}_{key}"] for m, key in parts.items()})
               for n in spec.n_values]
    return concat(frames)


SCR_EVALUATION = Evaluation(
    name="scr", spec_cls=ScrSpec, run=run_scr,
    description=("Spurious correlation removal: ablating the SAE latents a gender probe uses should turn a "
                 "gender-biased profession probe into a profession probe (and vice versa); score per k ablated "
                 "latents."),
    higher_is_better={"scr_dir1": True, "scr_dir2": True, "scr_metric": True},
)
TPP_EVALUATION = Evaluation(
    name="tpp", spec_cls=TppSpec, run=run_tpp,
    description=("Targeted probe perturbation: ablating a class's top-k SAE latents should lower its probe's "
                 "accuracy (intended) and leave other classes' probes alone (unintended)."),
    higher_is_better={"tpp_total": True, "tpp_intended": True, "tpp_unintended": False},
)
