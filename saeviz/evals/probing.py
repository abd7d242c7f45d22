"""Sparse probing (sae_bench's `evals/sparse_probing`), and the text activations SCR and TPP share.

Per class (a profession), a one-vs-rest probe on mean-pooled activations of a text: on the model's
activations at the SAE's hook (all dimensions: `llm_test_accuracy`; the k dimensions whose class means
differ most: `llm_top_k_test_accuracy`) and on the SAE's latents (`sae_top_k_test_accuracy`, k latents
chosen the same way; `sae_test_accuracy` on all latents). sae_bench's probe functions do the training with
its hyperparameters (`train_class_probes`: its `train_probe_on_activations` one step at a time).

Texts: with the embedded toy world, gender-balanced biographies of several professions
(`toy_datasets.class_texts`); otherwise sae_bench's loaders (bias_in_bios on the Hugging Face hub).
They are tokenized as sae_bench does (the tokenizer's own BOS, truncated at ``context_length``).
sae_bench zeroes BOS/PAD/EOS positions of padded [batch, seq, d] activations and averages the others;
here those positions are dropped ("packed" [tokens, d] plus each token's row), which gives the same
means without padding and lets the SAE encode only real tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
from dataclasses import asdict, dataclass

import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.evals.base import EvalInputs, Evaluation, concat, mean_over, rows
from saeviz.evals.toy_datasets import DEFAULT_CLASSES, class_texts
from saeviz.model.activations import hook_activations
from saeviz.model.hub import hub_reachable
from saeviz.specs import _help

HUB_CLASS_DATASET = "LabHC/bias_in_bios_class_set1"


@dataclass(frozen=True)
class ProbingSpec:
    """Sparse probing; defaults are sae_bench's except the set sizes (4000/1000 there), cut to fit 2 CPU cores."""

    classes: tuple[str, ...] = _help(
        "Toy-world professions to tell apart (embedded model); each class gets its own one-vs-rest probe.",
        default=DEFAULT_CLASSES)
    hub_datasets: tuple[str, ...] = _help(
        "sae_bench datasets used instead when there is no toy world (downloaded from the Hugging Face hub).",
        default=(HUB_CLASS_DATASET,))
    train_size: int = _help("Training texts per class x 2 (sae_bench: 4000; per class train_size // 2 texts).",
                            default=1000)
    test_size: int = _help("Test texts per class x 2 (sae_bench: 1000).", default=500)
    k_values: tuple[int, ...] = _help("Numbers of latents / model dimensions the sparse probes read.",
                                      default=(1, 2, 5))
    context_length: int = _help("Tokens kept per text (longer texts are truncated), as sae_bench.", default=128)
    full_probes: bool = _help("Also train sae_bench's probes on all model dimensions and all SAE latents.",
                              default=True)
    llm_batch_size: int = _help("Texts per model forward pass.", default=64)
    seed: int = _help("Seed of the texts, the probes' negative samples and their training.", default=42)

    def __post_init__(self):
        check_data_fields(self)
        if not self.k_values or min(self.k_values) < 1:
            raise ValueError(f"k_values={self.k_values}: give positive numbers of latents, e.g. (1, 2, 5).")


def check_data_fields(spec) -> None:
    """Validation shared by the specs that read class texts (probing, TPP)."""
    if len(set(spec.classes)) < 2:
        raise ValueError(f"classes={spec.classes}: name at least two different professions.")
    if spec.train_size < 8 or spec.test_size < 8:
        raise ValueError(f"train_size={spec.train_size}, test_size={spec.test_size}: use at least 8 each.")
    if spec.context_length < 2 or spec.llm_batch_size < 1:
        raise ValueError("context_length must be at least 2 and llm_batch_size at least 1.")
    if not spec.hub_datasets:
        raise ValueError("hub_datasets is empty: name at least one sae_bench dataset, e.g. " + HUB_CLASS_DATASET)


# ---------------------------------------------------------------- small shared helpers

@contextlib.contextmanager
def seeded(seed: int):
    """sae_bench draws negatives and shuffles from the global RNGs: seed them here, restore them after."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


@contextlib.contextmanager
def probe_work():
    """Around sae_bench's probe code: its prints go nowhere (the CLI shows saeviz's own progress), and torch
    and BLAS run on one thread: thousands of tiny matmuls gain nothing from threads, and on 2 busy cores a
    second thread made sae_bench's letter-probe training 16x slower (1.1 s vs 16.9 s, measured)."""
    # lazy: threadpoolctl is only needed while probes train
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(io.StringIO()), threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(threads)


def memo_name(prefix: str, **fields) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def segment_mean(values_TX: torch.Tensor, row_T: torch.Tensor, n_rows: int) -> torch.Tensor:
    """[n_rows, X]: the mean of the tokens of each row (a row without tokens gives NaN)."""
    sums_RX = torch.zeros(n_rows, values_TX.shape[1], dtype=torch.float32).index_add_(0, row_T, values_TX.float())
    counts_R = torch.zeros(n_rows).index_add_(0, row_T, torch.ones(len(row_T)))
    return sums_RX / counts_R[:, None]


@torch.no_grad()
def packed_activations(model, hook: str, texts: list[str], context_length: int, batch_size: int,
                       progress=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(acts [n_tokens, d], row [n_tokens]): activations at ``hook`` of every ordinary token of every text."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils.activation_collection import get_bos_pad_eos_mask

    tok = model.tokenizer
    length = min(context_length, model.cfg.n_ctx)
    acts, rows_ = [], []
    for start in range(0, len(texts), batch_size):
        # right padding: the model gets no attention mask, so pads must come after the real tokens
        ids_BL = tok(texts[start:start + batch_size], padding=True, truncation=True, max_length=length,
                     padding_side="right", return_tensors="pt")["input_ids"]
        keep_BL = get_bos_pad_eos_mask(ids_BL, tok)
        acts.append(hook_activations(model, hook, ids_BL)[keep_BL.to(model.cfg.device)].float().cpu())
        rows_.append((torch.arange(len(ids_BL))[:, None] + start).expand_as(ids_BL)[keep_BL])
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts), "model activations")
    return torch.cat(acts), torch.cat(rows_)


@torch.no_grad()
def pooled_latents(sae, acts_TD: torch.Tensor, row_T: torch.Tensor, n_rows: int,
                   batch_tokens: int = 8192) -> torch.Tensor:
    """[n_rows, d_sae]: the SAE's latents averaged over each row's tokens (sae_bench's meaned SAE acts)."""
    sums_RF = torch.zeros(n_rows, sae.cfg.d_sae)
    for start in range(0, len(acts_TD), batch_tokens):
        x = acts_TD[start:start + batch_tokens].to(sae.device, sae.dtype)
        sums_RF.index_add_(0, row_T[start:start + batch_tokens], sae.encode(x).float().cpu())
    counts_R = torch.zeros(n_rows).index_add_(0, row_T, torch.ones(len(row_T)))
    return sums_RF / counts_R[:, None]


def by_class(pooled_RX: torch.Tensor, label_R: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    return {name: pooled_RX[label_R == i] for i, name in enumerate(names)}


# ---------------------------------------------------------------- class datasets (toy world or hub)

def _class_texts(inputs: EvalInputs, spec, dataset: str | None):
    if dataset is None:
        return class_texts(inputs.world, tuple(spec.classes), spec.train_size, spec.test_size, spec.seed)
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils import dataset_info, dataset_utils

    if dataset not in dataset_info.chosen_classes_per_dataset:
        raise SaevizError(f"{dataset!r} is not one of sae_bench's probing datasets: choose from "
                          f"{', '.join(dataset_info.chosen_classes_per_dataset)}.")
    train, test = dataset_utils.get_multi_label_train_test_data(dataset, spec.train_size, spec.test_size, spec.seed)
    chosen = dataset_info.chosen_classes_per_dataset[dataset]
    return dataset_utils.filter_dataset(train, chosen), dataset_utils.filter_dataset(test, chosen)


def datasets(inputs: EvalInputs, spec) -> list[str | None]:
    """[None] (the toy world's classes) with a world; else the spec's hub datasets, if the hub answers."""
    if inputs.world is not None:
        return [None]
    require_hub(spec.hub_datasets)
    return list(spec.hub_datasets)


def require_hub(names) -> None:
    if not hub_reachable():
        raise SaevizError("Without the embedded toy world this evaluation reads sae_bench's datasets "
                          f"({', '.join(names)}) from the Hugging Face hub, which is unreachable.")


def class_data(inputs: EvalInputs, spec, dataset: str | None) -> dict[str, torch.Tensor]:
    """Memoized packed activations of the class texts: {split}_acts, {split}_row, {split}_label (class index
    per text, classes in the order of ``class_names``)."""
    fields = {k: getattr(spec, k) for k in ("train_size", "test_size", "seed", "context_length")}
    fields.update(classes=list(spec.classes) if dataset is None else dataset)

    def compute():
        out = {}
        for split, texts in zip(("train", "test"), _class_texts(inputs, spec, dataset)):
            flat = [t for name in texts for t in texts[name]]
            acts, row = packed_activations(inputs.model, inputs.hook, flat, spec.context_length,
                                           spec.llm_batch_size, inputs.progress)
            out.update({f"{split}_acts": acts, f"{split}_row": row, f"{split}_label": torch.cat(
                [torch.full((len(v),), i) for i, v in enumerate(texts.values())])})
        return out

    return inputs.memo(memo_name("class-texts", **fields), compute)


def class_names(spec, dataset: str | None) -> list[str]:
    if dataset is None:
        return list(spec.classes)
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils import dataset_info

    return list(dataset_info.chosen_classes_per_dataset[dataset])


def pooled_model_acts(data: dict[str, torch.Tensor], split: str, names: list[str]) -> dict[str, torch.Tensor]:
    label = data[f"{split}_label"]
    return by_class(segment_mean(data[f"{split}_acts"], data[f"{split}_row"], len(label)), label, names)


def pooled_sae_acts(sae, data: dict[str, torch.Tensor], split: str, names: list[str]) -> dict[str, torch.Tensor]:
    label = data[f"{split}_label"]
    return by_class(pooled_latents(sae, data[f"{split}_acts"], data[f"{split}_row"], len(label)), label, names)


# ---------------------------------------------------------------- sparse probing

def train_class_probes(train: dict, test: dict, names: list[str], perform_scr: bool = False,
                       select_top_k: int | None = None, use_sklearn: bool = True, **gpu) -> tuple[dict, dict]:
    """sae_bench's `train_probe_on_activations` for the classes ``names``, one step at a time with its own
    functions in its order. Called as a whole, its sklearn path fails under jaxtyping 0.3 / beartype 0.23:
    the dict annotation binds train_dataset_size to one class's size, and `train_sklearn_probe` (beartype
    only, so checked in the caller's jaxtyping frame) then sees positives + negatives, twice as many."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.sparse_probing import probe_training as pt

    probes, accuracies = {}, {}
    with probe_work(), torch.enable_grad():
        for name in names:
            train_x, train_y = pt.prepare_probe_data(train, name, perform_scr)
            test_x, test_y = pt.prepare_probe_data(test, name, perform_scr)
            if select_top_k is not None:
                mask_D = pt.get_top_k_mean_diff_mask(train_x, train_y, select_top_k)
                train_x = pt.apply_topk_mask_reduce_dim(train_x, mask_D)
                test_x = pt.apply_topk_mask_reduce_dim(test_x, mask_D)
            if use_sklearn:
                probes[name], accuracies[name] = pt.train_sklearn_probe(train_x, train_y, test_x, test_y)
            else:
                probes[name], accuracies[name] = pt.train_probe_gpu(train_x, train_y, test_x, test_y,
                                                                    dim=train_x.shape[1], **gpu)
    return probes, accuracies


def _mean_accuracy(train: dict, test: dict, **kwargs) -> float:
    _, accuracies = train_class_probes(train, test, list(train), **kwargs)
    return sum(accuracies.values()) / len(accuracies)


# sae_bench trains its all-dimension probes on the GPU path with these (sklearn is slow on many dimensions)
FULL_PROBE = {"use_sklearn": False, "batch_size": 250, "epochs": 100, "lr": 1e-2, "early_stopping_patience": 10}


def _llm_results(inputs: EvalInputs, spec: ProbingSpec, dataset: str | None, names: list[str]) -> dict:
    def compute():
        data = class_data(inputs, spec, dataset)
        train, test = pooled_model_acts(data, "train", names), pooled_model_acts(data, "test", names)
        with seeded(spec.seed):
            out = {f"top_{k}": torch.tensor(_mean_accuracy(train, test, select_top_k=k)) for k in spec.k_values}
            if spec.full_probes:
                out["all"] = torch.tensor(_mean_accuracy(train, test, **FULL_PROBE))
        return out

    fields = {**{k: v for k, v in asdict(spec).items() if k not in ("llm_batch_size", "hub_datasets")},
              "dataset": dataset}
    return inputs.memo(memo_name("probing-llm", **fields), compute)


def _dataset_results(inputs: EvalInputs, spec: ProbingSpec, dataset: str | None) -> dict[str, float]:
    names = class_names(spec, dataset)
    llm = _llm_results(inputs, spec, dataset, names)
    data = class_data(inputs, spec, dataset)
    train, test = pooled_sae_acts(inputs.sae, data, "train", names), pooled_sae_acts(inputs.sae, data, "test", names)
    out = {}
    with seeded(spec.seed):
        for k in spec.k_values:
            out[f"llm_top_{k}"] = float(llm[f"top_{k}"])
            out[f"sae_top_{k}"] = _mean_accuracy(train, test, select_top_k=k)
        if spec.full_probes:
            out["llm"] = float(llm["all"])
            out["sae"] = _mean_accuracy(train, test, **FULL_PROBE)
    return out


def run_probing(inputs: EvalInputs, spec: ProbingSpec) -> pd.DataFrame:
    """Rows: item '' llm_test_accuracy, sae_test_accuracy (full probes); items 'k=1', ...:
    llm_top_k_test_accuracy, sae_top_k_test_accuracy; each averaged over classes, then datasets."""
    results = []
    sources = datasets(inputs, spec)
    for i, dataset in enumerate(sources):
        inputs.progress(i, len(sources), f"sparse probing: {dataset or 'toy-world professions'}")
        results.append(_dataset_results(inputs, spec, dataset))
    mean = mean_over(results)
    frames = [rows(llm_test_accuracy=mean["llm"], sae_test_accuracy=mean["sae"])] if spec.full_probes else []
    frames += [rows(item=f"k={k}", llm_top_k_test_accuracy=mean[f"llm_top_{k}"],
                    sae_top_k_test_accuracy=mean[f"sae_top_{k}"]) for k in spec.k_values]
    inputs.progress(len(sources), len(sources), "sparse probing: done")
    return concat(frames)


EVALUATION = Evaluation(
    name="probing",
    spec_cls=ProbingSpec,
    run=run_probing,
    description=("Sparse probing: one-vs-rest probes telling professions apart from k SAE latents (k=1, 2, 5), "
                 "against probes on k model dimensions and on all of them (sae_bench's sparse_probing)."),
    higher_is_better={"llm_test_accuracy": True, "sae_test_accuracy": True, "llm_top_k_test_accuracy": True,
                      "sae_top_k_test_accuracy": True},
)
