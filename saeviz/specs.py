"""Frozen specs: every computation in saeviz is a pure function of one of these plus its inputs.

A spec validates itself on construction (``ValueError`` with a message that says what to change)
and hashes to a stable key (``spec_key``) that the cache stores results under, so the dashboard,
the CLI and the tests ask for the same thing in the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

EMBEDDED = "embedded"
EMBEDDED_SAE_TEMPLATE = "embedded/{site}/layer_{layer}"  # the embedded SAEs, one per site and layer
SITES = ("attn", "mlp", "resid")
PRUNABLE_MATRICES = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out")
COMPRESSION_METHODS = ("dense", "wanda", "sparsegpt", "magnitude", "magnitude_global", "rtn", "gptq")  # compression.methods.COMPRESSORS
QUANTIZERS = ("rtn", "gptq")  # methods that round weights (bits, groups) instead of removing them
CHECKPOINT = "checkpoint"  # a variant read from a directory compressed elsewhere (not in the registry: nothing to run)
# the feature browser: how latents of two variants are paired, and how changed latents are ranked
MATCH_METHODS = ("hungarian", "mutual")
RANKINGS = ("most_changed", "dead", "unmatched", "density")


def _help(text: str, **kwargs):
    """A dataclass field whose help text doubles as the widget/CLI help."""
    return field(metadata={"help": text}, **kwargs)


def _added(text: str, **kwargs):
    """A field added after results were cached: left out of ``spec_key`` while it holds its default, so
    every key formed before it existed stays the same."""
    return field(metadata={"help": text, "omit_default": True}, **kwargs)


def spec_key(spec) -> str:
    """Stable 16-hex key of a spec: same fields, same key, across processes and machines."""
    fields = dataclasses.asdict(spec)
    for f in dataclasses.fields(spec):
        if f.metadata.get("omit_default") and fields[f.name] == f.default:
            del fields[f.name]
    payload = {"type": type(spec).__name__, **fields}
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def spec_help(spec_cls, name: str) -> str:
    for f in dataclasses.fields(spec_cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)


def _check_fraction(name: str, value: float, upper_inclusive: bool = False) -> None:
    ok = 0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0
    if not ok:
        bound = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise ValueError(f"{name}={value!r} must be a fraction in {bound}, e.g. 0.5 for 50%.")


@dataclass(frozen=True)
class ModelSpec:
    """Which language model to load through transformer_lens."""

    name: str = _help(
        "'embedded' (the model shipped with saeviz), a transformer_lens model name "
        "(gpt2-small, gemma-2-2b, pythia-70m-deduped, ...) or a local Hugging Face checkpoint directory.",
        default=EMBEDDED,
    )
    device: str = _help("'auto' (CUDA when present, else CPU), 'cpu', 'cuda', 'cuda:1', 'mps'.", default="auto")
    dtype: str = _help("Weights dtype: float32, float16 or bfloat16.", default="float32")

    def __post_init__(self):
        if not self.name or not self.name.strip():
            raise ValueError("ModelSpec.name is empty: use 'embedded', a transformer_lens model name or a checkpoint directory.")
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"ModelSpec.dtype={self.dtype!r}: use float32, float16 or bfloat16.")

    @property
    def is_embedded(self) -> bool:
        return self.name == EMBEDDED

    @property
    def is_local_dir(self) -> bool:
        return not self.is_embedded and Path(self.name).expanduser().is_dir()


@dataclass(frozen=True)
class SaeSpec:
    """Which SAE to load through sae_lens.

    ``release`` is 'embedded', a sae_lens pretrained release, or a local directory in sae_lens'
    format (then ``sae_id`` is None). Embedded SAE ids are '{site}/layer_{l}', e.g. 'resid/layer_3'.
    """

    release: str = _help("'embedded', a sae_lens release (gpt2-small-res-jb, ...) or a local SAE directory.")
    sae_id: str | None = _help("The SAE id inside the release, e.g. 'blocks.8.hook_resid_pre'; None for a directory.", default=None)

    def __post_init__(self):
        if not self.release:
            raise ValueError("SaeSpec.release is empty: give 'embedded', a sae_lens release or a directory.")
        if self.sae_id is None and not self.is_local_dir:
            raise ValueError(
                f"SAE {self.release!r} names no SAE id and is not a directory: write RELEASE/SAE_ID "
                "(e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre, embedded/resid/layer_3) or a path to a sae_lens SAE directory."
            )
        if self.release == EMBEDDED:
            self.embedded_site_layer()  # validates the id's shape

    @classmethod
    def parse(cls, text: str) -> "SaeSpec":
        """'RELEASE/SAE_ID' or a directory (checked first, so local paths with slashes work)."""
        text = text.strip()
        if Path(text).expanduser().is_dir():
            return cls(release=str(Path(text).expanduser()), sae_id=None)
        if text.startswith(("/", "./", "../", "~")):
            raise ValueError(f"SAE folder {text!r} does not exist: check the path (for a template, the folder its "
                             "{site} and {layer} fill in).")
        release, sep, sae_id = text.partition("/")
        if not sep or not sae_id:
            raise ValueError(
                f"SAE {text!r} is neither an existing directory nor RELEASE/SAE_ID "
                "(e.g. gpt2-small-res-jb/blocks.8.hook_resid_pre or embedded/resid/layer_3)."
            )
        return cls(release=release, sae_id=sae_id)

    @classmethod
    def embedded(cls, site: str, layer: int) -> "SaeSpec":
        return cls(release=EMBEDDED, sae_id=f"{site}/layer_{layer}")

    @property
    def is_local_dir(self) -> bool:
        return self.sae_id is None and Path(self.release).expanduser().is_dir()

    def embedded_site_layer(self) -> tuple[str, int]:
        site, _, layer = (self.sae_id or "").partition("/layer_")
        if site not in SITES or not layer.isdigit():
            raise ValueError(
                f"Embedded SAE id {self.sae_id!r} should look like '<site>/layer_<n>' with site in {SITES}, e.g. 'resid/layer_2'."
            )
        return site, int(layer)

    def label(self) -> str:
        return self.release if self.sae_id is None else f"{self.release}/{self.sae_id}"


@dataclass(frozen=True)
class TextSource:
    """Where a token set's text comes from: a Hugging Face dataset or local files."""

    dataset: str = _help("A Hugging Face dataset (Skylion007/openwebtext, allenai/c4; 'c4' is WANDA's C4 shard), or a "
                         "local .txt/.jsonl/.parquet file or folder.")
    config: str | None = _help("The dataset's configuration (e.g. 'en' for C4).", default=None)
    split: str = _help("The dataset's split.", default="train")
    column: str = _help("The column (or JSON field) that holds the text.", default="text")
    data_files: tuple[str, ...] | None = _help("Only these files of the dataset (e.g. one shard).", default=None)

    def __post_init__(self):
        if not self.dataset or not self.dataset.strip():
            raise ValueError("TextSource.dataset is empty: give a Hugging Face dataset name or a local text file or folder.")
        if self.data_files is not None:
            object.__setattr__(self, "data_files", tuple(self.data_files))


@dataclass(frozen=True)
class TokenSetSpec:
    """A token set for one model: calibration, eval and train rows of text tokenized by the model's tokenizer.

    Unset fields come from the SAE named by ``sae`` as sae_lens records it (its training dataset, context
    length and BOS), so that the SAEs read text like the text they were trained on."""

    model: str = _help("The model whose tokenizer makes the ids (as in ModelSpec.name).", default=EMBEDDED)
    text: TextSource | None = _help("The text; None takes the SAE's training dataset.", default=None)
    calibration_text: TextSource | None = _help(
        "Text of the calibration rows when it differs (WANDA calibrates on C4); None: the same stream as the rest.",
        default=None)
    sae: str | None = _help("An SAE (RELEASE/SAE_ID or folder) whose dataset, context length and BOS are the defaults.",
                            default=None)
    n_calibration: int = _help("Calibration rows (WANDA's 128).", default=128)
    n_eval: int = _help("Evaluation rows.", default=512)
    train_tokens: int = _help("Training tokens (for retraining SAEs); 0 writes no train split.", default=1_000_000)
    context_size: int | None = _help("Tokens per row, BOS included; None: the SAE's context size.", default=None)
    prepend_bos: bool | None = _help("Start every row with BOS; None: as the SAE was trained.", default=None)

    def __post_init__(self):
        if self.n_calibration < 0 or self.n_eval < 0 or self.train_tokens < 0:
            raise ValueError("Token-set sizes must be 0 or more (rows for calibration and eval, tokens for train).")
        if self.n_calibration + self.n_eval == 0:
            raise ValueError("A token set with no calibration and no eval rows is empty: set --calibration or --eval above 0.")
        if self.context_size is not None and self.context_size < 2:
            raise ValueError(f"context_size={self.context_size}: a row needs at least 2 tokens.")


DEFAULT_SPARSITY = 0.5


def _freeze_layer_map(value) -> tuple[tuple[int, float], ...]:
    """Per-layer overrides as a sorted tuple of (layer, value) so the spec stays hashable."""
    items = value.items() if isinstance(value, dict) else value
    return tuple(sorted((int(k), float(v)) for k, v in items))


@dataclass(frozen=True)
class CompressSpec:
    """How to compress the language model (see ``saeviz.compression.methods.COMPRESSORS`` for methods)."""

    method: str = _help("Compression method: dense; pruning with wanda, sparsegpt, magnitude, magnitude_global; quantization "
                        "with rtn (round-to-nearest) or gptq.", default="wanda")
    sparsity: float | None = _help(
        "Fraction of weights removed in every layer without its own setting (pruning methods). Left unset: "
        "0.5, or with an N:M pattern the pattern's own (M-N)/M.", default=None)
    layer_sparsity: tuple[tuple[int, float], ...] = _help("Per-layer overrides: ((layer, sparsity), ...) or a dict.", default=())
    matrices: tuple[str, ...] = _help("Which matrices to compress, out of W_Q, W_K, W_V, W_O, W_in, W_out.", default=PRUNABLE_MATRICES)
    n_m: tuple[int, int] | None = _help("Semi-structured N:M pattern: keep N of every M consecutive inputs in a row, e.g. (2, 4), "
                                        "i.e. sparsity (M-N)/M in every layer.", default=None)
    n_calibration: int = _help("Calibration sequences for activation-aware methods (wanda, sparsegpt, gptq; 128 is their papers' default).", default=128)
    sequential: bool = _help("Layer-sequential calibration: layer l's inputs come from the model whose layers < l are already compressed.", default=True)
    bits: int = _help("Quantization bits for rtn and gptq: 8, 4, 3 or 2.", default=8)
    group_size: int = _help("Quantization group size along each row's inputs (0: one group per row).", default=128)
    symmetric: bool = _help("Symmetric (zero-point free) quantization; False for asymmetric min/max.", default=True)
    act_order: bool = _added("GPTQ only: quantize columns by decreasing Hessian diagonal (act-order, desc_act).", default=False)
    damping: float = _added("SparseGPT and GPTQ: dampening added to the Hessian's diagonal, as a fraction of its mean.", default=0.01)
    checkpoint: str = _added("Method checkpoint: a Hugging Face checkpoint directory compressed elsewhere (compressed-tensors, "
                             "GPTQ, AWQ, or pruned and saved dense) whose weights replace the base model's.", default="")

    def __post_init__(self):
        if (self.method == CHECKPOINT) != bool(self.checkpoint):
            raise ValueError("A checkpoint variant needs both method='checkpoint' and the checkpoint directory: "
                             "write checkpoint:PATH.")
        if self.method not in (*COMPRESSION_METHODS, CHECKPOINT):
            raise ValueError(f"Unknown compression method {self.method!r}: choose from {', '.join(COMPRESSION_METHODS)} "
                             "(quantization: rtn, gptq).")
        object.__setattr__(self, "layer_sparsity", _freeze_layer_map(self.layer_sparsity))
        object.__setattr__(self, "matrices", tuple(self.matrices))
        if self.n_m is not None:
            object.__setattr__(self, "n_m", tuple(int(v) for v in self.n_m))
            self._check_n_m()
        if self.sparsity is None:
            object.__setattr__(self, "sparsity", DEFAULT_SPARSITY)
        _check_fraction("sparsity", self.sparsity)
        for layer, s in self.layer_sparsity:
            _check_fraction(f"layer_sparsity[{layer}]", s)
            if layer < 0:
                raise ValueError(f"layer_sparsity has layer {layer}: layers are numbered from 0.")
        bad = [m for m in self.matrices if m not in PRUNABLE_MATRICES]
        if bad or not self.matrices:
            raise ValueError(f"matrices {bad or '()'} not understood: choose from {PRUNABLE_MATRICES}.")
        if self.n_calibration < 1:
            raise ValueError(f"n_calibration={self.n_calibration}: need at least 1 calibration sequence (128 is WANDA's default).")
        if self.bits not in (2, 3, 4, 8):
            raise ValueError(f"bits={self.bits}: quantization supports 8, 4, 3 or 2 bits.")
        if self.act_order and self.method != "gptq":
            raise ValueError(f"act_order is a GPTQ setting; {self.method} has no column order: drop it or use method gptq.")
        if not 0 < self.damping < 10:
            raise ValueError(f"damping={self.damping}: use a small positive fraction of the Hessian's mean diagonal, e.g. 0.01.")
        if self.group_size < 0:
            raise ValueError(f"group_size={self.group_size}: use 0 (per row) or a positive group size such as 128.")

    def _check_n_m(self) -> None:
        """An N:M pattern fixes the sparsity: an explicit sparsity or per-layer setting must agree with it."""
        if len(self.n_m) != 2 or not 0 < self.n_m[0] < self.n_m[1]:
            raise ValueError(f"n_m={self.n_m!r}: give (N, M) with 0 < N < M, e.g. (2, 4) or (4, 8).")
        n, m = self.n_m
        implied = (m - n) / m
        if self.sparsity is not None and abs(self.sparsity - implied) > 1e-9:
            raise ValueError(f"n_m={n}:{m} keeps {n} of every {m} weights, i.e. sparsity {implied:g}, but sparsity="
                             f"{self.sparsity:g} was also given: drop the sparsity or set it to {implied:g}.")
        if self.layer_sparsity:
            raise ValueError(f"n_m={n}:{m} prunes every layer to {implied:g}: drop the per-layer sparsities, "
                             "or drop the N:M pattern to use them.")
        object.__setattr__(self, "sparsity", implied)

    @property
    def quantizes(self) -> bool:
        """A quantization method (bits, groups) rather than pruning (sparsity)."""
        return self.method in QUANTIZERS

    def sparsity_for(self, layer: int) -> float:
        return dict(self.layer_sparsity).get(layer, self.sparsity)

    @classmethod
    def parse(cls, text: str) -> "CompressSpec":
        """A compression written the way ``label()`` writes it: 'dense', 'wanda-50%', 'magnitude-30%',
        'wanda-2:4', 'rtn-int4', 'rtn-int4-g128-asym' (also 'wanda:0.5')."""
        if text.strip().lower().startswith(CHECKPOINT + ":"):
            return cls(method=CHECKPOINT, checkpoint=text.strip()[len(CHECKPOINT) + 1:].strip(), sparsity=0.0)
        t = text.strip().lower().replace(" ", "")
        if t == "dense":
            return DENSE
        m = re.fullmatch(r"(rtn|gptq)-int(\d)(?:-g(\d+))?(?:-(sym|asym))?(-act)?", t)
        if m:
            return cls(method=m.group(1), bits=int(m.group(2)), group_size=int(m.group(3) or 128), symmetric=m.group(4) != "asym",
                       act_order=bool(m.group(5)))
        m = re.fullmatch(r"([a-z_]+)[-:](\d+):(\d+)", t)
        if m:
            return cls(method=m.group(1), n_m=(int(m.group(2)), int(m.group(3))))
        m = re.fullmatch(r"([a-z_]+)[-:](\d*\.?\d+)(%?)", t)
        if m:
            value = float(m.group(2))
            return cls(method=m.group(1), sparsity=value / 100 if m.group(3) or value > 1 else value)
        raise ValueError(f"Compression {text!r} not understood: write dense, wanda-50%, sparsegpt-50%, magnitude-30%, "
                         "wanda-2:4, rtn-int4, gptq-int4-g128, gptq-int4-g128-asym-act or checkpoint:PATH.")

    def label(self) -> str:
        if self.method == "dense":
            return "dense"
        if self.method == CHECKPOINT:
            return f"checkpoint: {Path(self.checkpoint).name or self.checkpoint}"
        if self.quantizes:
            kind = "sym" if self.symmetric else "asym"
            return f"{self.method}-int{self.bits}-g{self.group_size}-{kind}" + ("-act" if self.act_order else "")
        amount = f"{self.n_m[0]}:{self.n_m[1]}" if self.n_m else f"{self.sparsity:.0%}"
        extra = "+layers" if self.layer_sparsity else ""
        return f"{self.method}-{amount}{extra}"


DENSE = CompressSpec(method="dense", sparsity=0.0)


@dataclass(frozen=True)
class SaePruneSpec:
    """How to prune an SAE's own encoder and decoder weights."""

    method: str = _help("magnitude or wanda (|W| times the norm of each weight's input activations).", default="wanda")
    sparsity: float = _help("Fraction of W_enc and W_dec weights removed.", default=0.25)
    matrices: tuple[str, ...] = _help("Which SAE matrices to prune: W_enc, W_dec.", default=("W_enc", "W_dec"))
    n_calibration_tokens: int = _help("Tokens of compressed-model activations used for WANDA input norms.", default=16384)

    def __post_init__(self):
        object.__setattr__(self, "matrices", tuple(self.matrices))
        _check_fraction("SAE sparsity", self.sparsity)
        bad = [m for m in self.matrices if m not in ("W_enc", "W_dec")]
        if bad or not self.matrices:
            raise ValueError(f"SAE matrices {bad or '()'} not understood: choose from W_enc, W_dec.")
        if self.n_calibration_tokens < 1:
            raise ValueError("n_calibration_tokens must be positive.")


DEFAULT_SAE_SWEEP = (0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)


@dataclass(frozen=True)
class TrainSpec:
    """Retraining an SAE from scratch on a (compressed) model's activations through sae_lens."""

    training_tokens: int = _help("Token budget of the training run.", default=1_000_000)
    lr: float = _help("Adam learning rate.", default=3e-4)
    batch_size_tokens: int = _help("Tokens per optimisation step.", default=2048)
    context_size: int = _help("Tokens per sequence fed to the model.", default=128)
    seed: int = _help("Random seed of initialisation and data order.", default=0)
    checkpoints: int = _help("Checkpoints written during training (resume points).", default=4)
    lr_warm_up_frac: float = _help("Share of the steps spent warming the learning rate up from 0.", default=0.05)
    lr_decay_frac: float = _help("Share of the steps, at the end, over which the learning rate decays linearly to 0.", default=0.2)
    sparsity_coefficient: float | None = _help(
        "L1 (standard) or L0 (jumprelu) penalty; None takes the architecture's default. TopK SAEs keep the pretrained k.",
        default=None,
    )

    def __post_init__(self):
        if self.training_tokens < self.batch_size_tokens:
            raise ValueError(f"training_tokens={self.training_tokens} is below one batch ({self.batch_size_tokens}): raise it.")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr={self.lr}: use a learning rate between 0 and 1, e.g. 3e-4.")
        if not (0 <= self.lr_warm_up_frac and 0 <= self.lr_decay_frac and self.lr_warm_up_frac + self.lr_decay_frac <= 1):
            raise ValueError(f"lr_warm_up_frac={self.lr_warm_up_frac} and lr_decay_frac={self.lr_decay_frac}: "
                             "use shares between 0 and 1 that add up to at most 1.")


# The paper's three activation sites, addressed by transformer_lens hook name.
SITE_HOOKS = {
    "attn": "blocks.{layer}.attn.hook_z",
    "mlp": "blocks.{layer}.hook_mlp_out",
    "resid": "blocks.{layer}.hook_resid_post",
}


def middle_layer(n_layers: int) -> int:
    """The layer the paper's per-layer tables use: 12 of Gemma-2-2B's 26, i.e. (n_layers - 1) // 2."""
    return (n_layers - 1) // 2


def site_hook(site: str, layer: int) -> str:
    if site not in SITE_HOOKS:
        raise ValueError(f"Unknown site {site!r}: choose from {tuple(SITE_HOOKS)}.")
    return SITE_HOOKS[site].format(layer=layer)


@dataclass(frozen=True)
class EvalSpec:
    """How SAE variants are evaluated on a (compressed) model."""

    n_sequences: int = _help("Evaluation sequences taken from the evaluation split.", default=64)
    batch_size: int = _help("Sequences per forward pass.", default=16)
    downstream: bool = _help("Also splice the SAE into the model: CE loss, KL divergence, CE-loss score.", default=True)

    def __post_init__(self):
        if self.n_sequences < 1 or self.batch_size < 1:
            raise ValueError("EvalSpec needs n_sequences >= 1 and batch_size >= 1.")


@dataclass(frozen=True)
class BestRule:
    """How 'PrunedBest' is chosen from an SAE sparsity sweep, against the retrained SAE.

    The paper picks 'the level (at least 25%) at which the pruned SAE achieves reconstruction loss
    comparable to its trained counterpart'. Among sparsities >= min_sparsity whose loss is within
    ``tolerance`` (relative) of the retrained SAE's, ``pick='largest'`` takes the most compressed one
    (the point of pruning), ``'smallest'`` the least. With none within tolerance, or no retrained
    SAE, the sparsity >= min_sparsity with the lowest loss is taken and marked as such.
    """

    min_sparsity: float = _help("Smallest SAE sparsity PrunedBest may take.", default=0.25)
    tolerance: float = _help("Allowed relative excess of the pruned SAE's loss over the retrained SAE's.", default=0.10)
    metric: str = _help("Loss the rule compares (lower is better).", default="mse")
    pick: str = _help("'largest' or 'smallest' qualifying sparsity.", default="largest")

    def __post_init__(self):
        _check_fraction("min_sparsity", self.min_sparsity)
        if self.tolerance < 0:
            raise ValueError("BestRule.tolerance must be >= 0 (0.1 means within 10% of the retrained SAE's loss).")
        if self.pick not in ("largest", "smallest"):
            raise ValueError("BestRule.pick must be 'largest' or 'smallest'.")
