"""Feature absorption on the first-letter task (sae_bench's `evals/absorption`, Chanin et al. 2024).

Prompts come from the tokenizer's vocabulary (every alphabetic token, as sae_bench's `get_alpha_tokens`):
"{ICL examples}\\n {word} has the first letter:", read at the word's token. A 26-way linear probe on the
model's activations there (at the SAE's hook, not sae_bench's fixed hook_resid_post, so that probe and
decoder live in one space) is the ground truth; letters whose probe F1 on held-out words exceeds
``min_probe_f1`` count, and the eval needs ``min_letters`` of them (sae_bench: 0.6 and 20; below that it
reports nothing). Per letter, k-sparse probes on SAE latents find the letter's main latents (feature
splitting: each extra latent must add ``f1_jump_threshold`` F1); absorption is measured on held-out words
the probe gets right: the main latents stay silent while latents aligned with the probe carry its
projection. All of it runs through sae_bench's functions, in memory, on the given model and SAE.

Differences from sae_bench, on purpose: the train/test split of words is stratified by first letter
(sae_bench's plain 80/20 split can leave a letter without test words, and then its metrics crash: the
embedded tokenizer has 5 words starting with x), and sae_bench recommends the eval for models of 1B+
parameters and SAEs of 16k+ latents: on small models the probe threshold is usually what decides.
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from saeviz.errors import SaevizError
from saeviz.evals import probing as P
from saeviz.evals.base import EvalInputs, Evaluation, concat, rows
from saeviz.model.activations import hook_activations
from saeviz.specs import _help

LETTERS = "abcdefghijklmnopqrstuvwxyz"
# the spec fields the ground-truth probe depends on (its memo key); the others only touch the SAE's part
PROBE_FIELDS = ("prompt_template", "prompt_token_pos", "max_icl_examples", "max_words_per_letter", "test_fraction",
                "probe_epochs", "probe_batch_size", "probe_lr", "seed")
SAE_NAME = "saeviz"  # sae_bench keys its intermediate files by an SAE name


@dataclass(frozen=True)
class AbsorptionSpec:
    """sae_bench's first-letter absorption; every default is sae_bench's."""

    prompt_template: str = _help("Prompt after the ICL examples; {word} is the word.",
                                 default="{word} has the first letter:")
    prompt_token_pos: int = _help("Position of the word's token, from the end of the prompt.", default=-6)
    max_icl_examples: int = _help("In-context examples before the word.", default=10)
    max_words_per_letter: int = _help("Words kept per first letter (0: every alphabetic token, as sae_bench).",
                                      default=0)
    test_fraction: float = _help("Share of each letter's words held out to test the probes.", default=0.2)
    probe_epochs: int = _help("Epochs of the ground-truth letter probe.", default=50)
    probe_batch_size: int = _help("Batch of the ground-truth letter probe.", default=64)
    probe_lr: float = _help("Learning rate of the ground-truth letter probe.", default=1e-2)
    max_k_value: int = _help("Largest number of latents of a k-sparse probe.", default=10)
    f1_jump_threshold: float = _help("F1 gain an extra latent must bring to count as a split feature.", default=0.03)
    k_sparse_probe_l1_decay: float = _help("L1 decay of the probe that ranks latents.", default=0.01)
    k_sparse_probe_batch_size: int = _help("Batch of the latent-ranking probe.", default=4096)
    k_sparse_probe_num_epochs: int = _help("Epochs of the latent-ranking probe.", default=50)
    min_probe_f1: float = _help(
        "Ground-truth probe F1 a letter needs to count (sae_bench's min_GT_probe_f1). Lower it only to explore "
        "a model that encodes spelling weakly, and report numbers at 0.6 beside it.", default=0.6)
    min_letters: int = _help("Letters that must pass min_probe_f1 for the eval to report (sae_bench: 20).",
                             default=20)
    llm_batch_size: int = _help("Prompts per model forward pass.", default=64)
    seed: int = _help("Seed of the word split, the ICL examples and the probes.", default=42)

    def __post_init__(self):
        if "{word}" not in self.prompt_template:
            raise ValueError(f"prompt_template={self.prompt_template!r} must contain {{word}}.")
        if self.prompt_token_pos >= 0:
            raise ValueError(f"prompt_token_pos={self.prompt_token_pos}: count from the end, e.g. -6.")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction={self.test_fraction}: use a fraction in (0, 1), e.g. 0.2.")
        if not 0.0 <= self.min_probe_f1 < 1.0 or not 1 <= self.min_letters <= 26:
            raise ValueError("min_probe_f1 must lie in [0, 1) and min_letters in 1..26 (sae_bench: 0.6 and 20).")
        if min(self.max_icl_examples, self.max_k_value, self.probe_epochs, self.probe_batch_size,
               self.k_sparse_probe_batch_size, self.k_sparse_probe_num_epochs, self.llm_batch_size) < 1:
            raise ValueError("Counts, epochs and batch sizes must be at least 1.")
        if self.max_words_per_letter < 0:
            raise ValueError("max_words_per_letter must be 0 (all) or positive.")


# ---------------------------------------------------------------- words and prompts

def letter_of(word: str) -> int:
    return LETTERS.index(word.strip()[0].lower())


def split_words(words: list[str], test_fraction: float, seed: int,
                max_per_letter: int = 0) -> tuple[list[str], list[str]]:
    """(train, test): per first letter, shuffled, at most ``max_per_letter`` (0: all), round(test_fraction * n)
    held out but at least one, and at least one kept for training when the letter has two or more words."""
    rng = random.Random(seed)
    train, test = [], []
    for letter in LETTERS:
        group = sorted(w for w in words if letter_of(w) == LETTERS.index(letter))
        rng.shuffle(group)
        if max_per_letter:
            group = group[:max_per_letter]
        n_test = min(max(1, round(test_fraction * len(group))), max(len(group) - 1, 1)) if group else 0
        test += group[:n_test]
        train += group[n_test:]
    return train, test


def vocabulary(tokenizer) -> list[str]:
    """sae_bench's words: every token made of letters, with or without a leading space."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption.vocab import get_alpha_tokens

    return sorted(set(get_alpha_tokens(tokenizer)))


def _prompts(words: list[str], examples: list[str], spec: AbsorptionSpec) -> list[str]:
    """sae_bench's `create_icl_prompt` per word, ICL examples drawn from the same split (as it does)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption.prompting import create_icl_prompt, first_letter_formatter

    return [create_icl_prompt(w, examples=examples, base_template=spec.prompt_template,
                              answer_formatter=first_letter_formatter(), max_icl_examples=spec.max_icl_examples,
                              prepend_separator_to_first_example=True).base for w in words]


@torch.no_grad()
def word_activations(model, hook: str, prompts: list[str], words: list[str], pos: int, batch_size: int) -> torch.Tensor:
    """[n, d]: activations at ``hook`` at each prompt's word token, ``pos`` counted from that prompt's end
    (checked to be the word's single token; prompts are right-padded, which leaves earlier positions intact)."""
    tok, out = model.tokenizer, []
    for start in range(0, len(prompts), batch_size):
        ids = [model.to_tokens(p)[0].cpu() for p in prompts[start:start + batch_size]]
        at_B = torch.tensor([len(t) for t in ids]) + pos
        tokens_BT = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=tok.pad_token_id or 0)
        expected = [(lambda e: e[0] if len(e) == 1 else -1)(tok.encode(w, add_special_tokens=False))
                    for w in words[start:start + batch_size]]
        if tokens_BT[torch.arange(len(ids)), at_B].tolist() != expected:
            raise SaevizError(f"A word is not the token at position {pos} of its prompt (or is not one token) for "
                              "this tokenizer: set prompt_token_pos to match prompt_template.")
        out.append(hook_activations(model, hook, tokens_BT).float().cpu()[torch.arange(len(ids)), at_B])
    return torch.cat(out)


# ---------------------------------------------------------------- the ground-truth probe (model-only, memoized)

def _words(model, spec: AbsorptionSpec) -> tuple[list[str], list[str], list[str]]:
    """(vocabulary, train words, test words); every letter needs words (sae_bench scores all 26)."""
    words = vocabulary(model.tokenizer)
    train, test = split_words(words, spec.test_fraction, spec.seed, spec.max_words_per_letter)
    missing = sorted(set(LETTERS) - {LETTERS[letter_of(w)] for w in test})
    if missing:
        raise SaevizError(f"The tokenizer has no single alphabetic token starting with {', '.join(missing)}: "
                          "sae_bench's first-letter task scores all 26 letters.")
    return words, train, test


def _train_probe(X_train: torch.Tensor, y_train: torch.Tensor, X_test: torch.Tensor, y_test: torch.Tensor,
                 spec: AbsorptionSpec):
    """sae_bench's ground-truth probe (`train_linear_probe_for_task`, its one-vs-rest BCE on 26 letters)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption.probing import train_linear_probe_for_task

    frames = [pd.DataFrame({"answer_class": y.tolist()}) for y in (y_train, y_test)]
    with P.probe_work(), torch.enable_grad():
        probe, _ = train_linear_probe_for_task(frames[0], frames[1], torch.device("cpu"), X_train.numpy(),
                                               X_test.numpy(), num_classes=26, batch_size=spec.probe_batch_size,
                                               num_epochs=spec.probe_epochs, lr=spec.probe_lr)
    return probe.eval()


def probe_f1(scores_NC: torch.Tensor, y_N: torch.Tensor) -> torch.Tensor:
    """[26]: F1 of each letter's probe at score > 0 (sae_bench's `f1_probe` in `build_metrics_df`)."""
    # lazy: scikit-learn takes a second to import
    from sklearn.metrics import f1_score

    return torch.tensor([f1_score((y_N == i).numpy(), (scores_NC[:, i] > 0).numpy(), zero_division=0.0)
                         for i in range(26)])


def _probe_data(inputs: EvalInputs, spec: AbsorptionSpec, train: list[str], test: list[str]) -> dict[str, torch.Tensor]:
    def compute():
        out = {}
        with P.seeded(spec.seed):
            for i, (split, words) in enumerate((("train", train), ("test", test))):
                inputs.progress(i, 2, f"absorption: model activations on {split} prompts")
                prompts = _prompts(words, words, spec)
                out[f"X_{split}"] = word_activations(inputs.model, inputs.hook, prompts, words,
                                                     spec.prompt_token_pos, spec.llm_batch_size)
                out[f"y_{split}"] = torch.tensor([letter_of(w) for w in words])
            probe = _train_probe(out["X_train"], out["y_train"], out["X_test"], out["y_test"], spec)
        with P.probe_work(), torch.no_grad():
            out["f1"] = probe_f1(probe(out["X_test"]), out["y_test"])
        return {**out, "probe_w": probe.fc.weight.detach().clone(), "probe_b": probe.fc.bias.detach().clone()}

    fields = {k: getattr(spec, k) for k in PROBE_FIELDS}
    return inputs.memo(P.memo_name("absorption-probe", **fields), compute)


def _linear_probe(data: dict[str, torch.Tensor]):
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption.probing import LinearProbe

    probe = LinearProbe(data["probe_w"].shape[1], 26)
    with torch.no_grad():
        probe.fc.weight.copy_(data["probe_w"])
        probe.fc.bias.copy_(data["probe_b"])
    return probe.eval()


class SiteModel:
    """What sae_bench's FeatureAbsorptionCalculator calls on a model, reading ``hook`` (it hard-codes
    blocks.{layer}.hook_resid_post) with hook_z heads flattened as saeviz's SAEs expect."""

    def __init__(self, model, hook: str):
        self.model, self.hook = model, hook

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def to_tokens(self, text):
        return self.model.to_tokens(text)

    def run_with_cache(self, prompts, names_filter):
        acts = hook_activations(self.model, self.hook, self.model.to_tokens(prompts))
        return None, {name: acts for name in names_filter}


# ---------------------------------------------------------------- the SAE's part

def _k_sparse_metrics(inputs: EvalInputs, spec: AbsorptionSpec, data: dict, probe, train: list[str],
                      test: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """sae_bench's k-sparse probing on the SAE: (raw per-word scores, per-letter metrics with split_feats)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption import k_sparse_probing as K

    sae = inputs.sae
    train_labels = list(zip(train, data["y_train"].tolist()))
    test_labels = list(zip(test, data["y_test"].tolist()))
    with P.probe_work(), torch.enable_grad():
        k_probes = K.train_k_sparse_probes(
            sae, train_labels, data["X_train"], ks=list(range(1, spec.max_k_value + 1)),
            l1_decay=spec.k_sparse_probe_l1_decay, batch_size=spec.k_sparse_probe_batch_size,
            num_epochs=spec.k_sparse_probe_num_epochs, precalc_sae_acts=True)
    with P.probe_work(), torch.no_grad():
        raw = K.eval_probe_and_sae_k_sparse_raw_scores(sae, probe, k_probes, test_labels, data["X_test"])
        meta = K.sae_k_sparse_metadata(sae, probe, k_probes, sae_name=SAE_NAME, layer=inputs.layer)
        metrics = K.build_metrics_df(raw, meta, max_k_value=spec.max_k_value)
    K.add_feature_splits_to_metrics_df(metrics, max_k_value=spec.max_k_value, f1_jump_threshold=spec.f1_jump_threshold)
    return raw, metrics


def _absorption_frame(inputs: EvalInputs, spec: AbsorptionSpec, words: list[str], probe, raw: pd.DataFrame,
                      metrics: pd.DataFrame) -> pd.DataFrame:
    """sae_bench's per-letter aggregate (absorption_fraction, full_absorption_rate, num_split_feats, ...)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.absorption import feature_absorption as F
    from sae_bench.evals.absorption.feature_absorption_calculator import FeatureAbsorptionCalculator
    from sae_bench.evals.absorption.k_sparse_probing import get_sparse_probing_raw_results_filename
    from sae_bench.evals.absorption.main import _aggregate_results_df
    from sae_bench.evals.absorption.prompting import first_letter_formatter

    with tempfile.TemporaryDirectory() as tmp:  # sae_bench reads the raw scores back from a file
        raw.to_parquet(Path(tmp) / get_sparse_probing_raw_results_filename(SAE_NAME, inputs.layer), index=False)
        likely = F.get_stats_and_likely_false_negative_tokens(metrics, SAE_NAME, inputs.layer, Path(tmp))
    calculator = FeatureAbsorptionCalculator(
        model=SiteModel(inputs.model, inputs.hook), icl_word_list=words, max_icl_examples=spec.max_icl_examples,
        base_template=spec.prompt_template, answer_formatter=first_letter_formatter(),
        word_token_pos=spec.prompt_token_pos, batch_size=spec.llm_batch_size,
        full_absorption_probe_cos_sim_threshold=F.FULL_ABSORPTION_PROBE_COS_THRESHOLD,
        absorption_fraction_probe_cos_sim_threshold=F.ABSORPTION_FRACTION_PROBE_COS_THRESHOLD,
        probe_projection_proportion_threshold=F.ABSORPTION_PROBE_PROJECTION_PROPORTION_THRESHOLD,
        absorption_fraction_max_absorbing_latents=F.ABSORPTION_FRACTION_MAX_ABSORBING_LATENTS)
    try:
        with P.probe_work():
            per_word = F.calculate_projection_and_cos_sims(calculator, inputs.sae, probe, inputs.layer, likely)
    except ValueError as exc:  # the calculator batches prompts and needs them all of one token length
        raise SaevizError(f"sae_bench's absorption calculator refused the prompts ({exc}).") from None
    return _aggregate_results_df(per_word) if len(per_word) else pd.DataFrame()


def _summary(agg: pd.DataFrame, f1_by_letter: dict[str, float], spec: AbsorptionSpec) -> dict[str, float]:
    """sae_bench's means and standard deviations over the letters whose probe passes (its run_eval)."""
    used = agg[agg["letter"].map(lambda c: f1_by_letter[c] > spec.min_probe_f1)] if len(agg) else agg
    cols = {"absorption_fraction": "mean_absorption_fraction", "full_absorption": "full_absorption_rate",
            "num_split_features": "num_split_feats"}
    out = {}
    for name, col in cols.items():
        values = [float(v) for v in used[col]] if len(used) else []
        out[f"mean_{name}"] = statistics.mean(values) if values else math.nan
        out[f"std_{name}"] = statistics.stdev(values) if len(values) > 1 else math.nan
    out["n_letters"] = len(used)
    out["n_words"] = int(used["num_probe_true_positives"].sum()) if len(used) else 0
    return out


def run_absorption(inputs: EvalInputs, spec: AbsorptionSpec) -> pd.DataFrame:
    """Rows. Item '': mean_/std_ absorption_fraction, full_absorption, num_split_features over the letters
    used (NaN when fewer than min_letters pass: evaluable 0, as sae_bench then reports nothing), n_letters and
    n_words they rest on, n_letters_probe_ok, probe_mean_f1 (26 letters), n_vocab. Items 'a'..'z': probe_f1,
    and when evaluable absorption_fraction, full_absorption_rate, num_split_features, n_words."""
    words, train, test = _words(inputs.model, spec)
    data = _probe_data(inputs, spec, train, test)
    f1 = {c: float(v) for c, v in zip(LETTERS, data["f1"])}
    passing = sum(v > spec.min_probe_f1 for v in f1.values())
    head = {"evaluable": float(passing >= spec.min_letters), "n_letters_probe_ok": passing,
            "probe_mean_f1": sum(f1.values()) / 26, "n_vocab": len(train) + len(test)}
    if passing < spec.min_letters:
        nan = math.nan
        summary = {f"{s}_{m}": nan for s in ("mean", "std") for m in ("absorption_fraction", "full_absorption",
                                                                       "num_split_features")}
        return concat([rows({**summary, "n_letters": 0, "n_words": 0, **head})]
                      + [rows(item=c, probe_f1=v) for c, v in f1.items()])
    inputs.progress(0, 2, "absorption: k-sparse probes on the SAE")
    probe = _linear_probe(data)
    with P.seeded(spec.seed):
        raw, metrics = _k_sparse_metrics(inputs, spec, data, probe, train, test)
        inputs.progress(1, 2, "absorption: absorbed words")
        agg = _absorption_frame(inputs, spec, words if not spec.max_words_per_letter else train + test,
                                probe, raw, metrics)
    inputs.progress(2, 2, "absorption: done")
    f1 = dict(zip(metrics["letter"], metrics["f1_probe"].astype(float)))
    per_letter = {r["letter"]: r for _, r in agg.iterrows()} if len(agg) else {}
    letters = [rows(item=c, probe_f1=v, **({} if c not in per_letter else {
        "absorption_fraction": per_letter[c]["mean_absorption_fraction"],
        "full_absorption_rate": per_letter[c]["full_absorption_rate"],
        "num_split_features": per_letter[c]["num_split_feats"],
        "n_words": per_letter[c]["num_probe_true_positives"]})) for c, v in f1.items()]
    return concat([rows({**_summary(agg, f1, spec), **head})] + letters)


EVALUATION = Evaluation(
    name="absorption",
    spec_cls=AbsorptionSpec,
    run=run_absorption,
    description=("Feature absorption (sae_bench, first-letter task): how often a letter's main SAE latents stay "
                 "silent on a word while other latents absorb the letter direction; sae_bench recommends it for "
                 "1B+ parameter models and 16k+ latent SAEs, and reports nothing when fewer than 20 letters are "
                 "linearly decodable from the model (evaluable = 0)."),
    higher_is_better={"mean_absorption_fraction": False, "mean_full_absorption": False,
                      "mean_num_split_features": False},
)
