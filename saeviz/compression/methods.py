"""Compressing a transformer_lens HookedTransformer: a registry of methods over frozen CompressSpecs.

``compress_model(model, spec, calib_tokens)`` returns a new, compressed copy of the model with a
report (achieved sparsity of every matrix, quantization error) and, for mask-only pruning methods,
the keep masks, so that a cache can store masks instead of weights and rebuild with ``apply_masks``;
SparseGPT and GPTQ also change the weights they keep, so their new matrices are returned
(``apply_weights`` rebuilds from them).

The tensor math lives in ``saeviz.compression.math`` and ``second_order``; this module knows where
each matrix sits in a transformer_lens block, which hook carries its input, and how to calibrate
layer-sequentially the way the WANDA, SparseGPT and GPTQ papers do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch

from saeviz.compression.math import (
    heads_in_from_linear,
    heads_in_to_linear,
    heads_out_from_linear,
    heads_out_to_linear,
    magnitude_global_mask,
    magnitude_mask,
    quantize_rtn,
    transpose_back,
    wanda_mask,
)
from saeviz.compression.second_order import gptq, sparsegpt
from saeviz.errors import SaevizError
from saeviz.jobs import Progress, report
from saeviz.specs import CompressSpec

MatrixKey = tuple[int, str]  # (layer, matrix name)


class UnsupportedModel(SaevizError):
    """The model's architecture has no supported route to a matrix's weights or inputs."""


# --- where each matrix lives ------------------------------------------------------------------
# transformer_lens stores weights as (d_in, d_out), split per head. The math wants nn.Linear's
# (d_out, d_in) with one row per output feature, so each site converts to that view and back
# (the converters are in compress_math).

def _attn_input(cfg) -> str:
    return "ln1.hook_normalized" if cfg.normalization_type else "hook_resid_pre"


def _mlp_input(cfg) -> str:
    if cfg.normalization_type:
        return "ln2.hook_normalized"
    return "hook_resid_pre" if cfg.parallel_attn_mlp else "hook_resid_mid"


@dataclass(frozen=True)
class MatrixSite:
    """One prunable matrix of a block: its parameter, its nn.Linear view, the hook of its input."""

    module: str
    params: tuple[str, ...]  # attribute names tried in order: grouped-query attention keeps K/V in _W_K/_W_V
    to_linear: Callable[[torch.Tensor], torch.Tensor]
    from_linear: Callable[[torch.Tensor, torch.Size], torch.Tensor]
    input_hook: Callable[[object], str]  # cfg -> hook name relative to blocks.{l}


_QKV = dict(module="attn", to_linear=heads_in_to_linear, from_linear=heads_in_from_linear, input_hook=_attn_input)
SITES: dict[str, MatrixSite] = {
    "W_Q": MatrixSite(params=("W_Q",), **_QKV),
    "W_K": MatrixSite(params=("_W_K", "W_K"), **_QKV),
    "W_V": MatrixSite(params=("_W_V", "W_V"), **_QKV),
    "W_O": MatrixSite("attn", ("W_O",), heads_out_to_linear, heads_out_from_linear, lambda cfg: "attn.hook_z"),
    "W_in": MatrixSite("mlp", ("W_in",), lambda w: w.T, transpose_back, _mlp_input),
    "W_out": MatrixSite("mlp", ("W_out",), lambda w: w.T, transpose_back, lambda cfg: "mlp.hook_post"),
    # a gated MLP's second input projection (Gemma, Llama): compressed with W_in, on the same input
    "W_gate": MatrixSite("mlp", ("W_gate",), lambda w: w.T, transpose_back, _mlp_input),
}


def model_matrices(cfg, matrices: tuple[str, ...]) -> tuple[str, ...]:
    """The matrices compressed in a model for a spec's ``matrices``: W_in of a gated MLP stands for both of
    its input projections, W_gate and W_in (the spec names the six matrices every block has)."""
    out = []
    for matrix in matrices:
        if matrix == "W_in" and getattr(cfg, "gated_mlp", False):
            out.append("W_gate")
        out.append(matrix)
    return tuple(out)


def weight_param(model, layer: int, matrix: str) -> torch.nn.Parameter:
    """The stored parameter of ``matrix`` in block ``layer`` (transformer_lens orientation)."""
    site = SITES[matrix]
    module = getattr(model.blocks[layer], site.module, None)
    for name in site.params:
        param = getattr(module, name, None) if module is not None else None
        if isinstance(param, torch.nn.Parameter):
            return param
    raise UnsupportedModel(
        f"Block {layer} of this model has no {matrix} parameter (its {site.module} is "
        f"{type(module).__name__}): drop {matrix} from the matrices to compress."
    )


def linear_view(model, layer: int, matrix: str) -> torch.Tensor:
    """``matrix`` of block ``layer`` as an nn.Linear-convention (d_out, d_in) tensor (read-only: may be a copy)."""
    return SITES[matrix].to_linear(weight_param(model, layer, matrix).detach())


def input_hook_name(model, layer: int, matrix: str) -> str:
    """Full hook name whose activations are the input of ``matrix`` (checked to exist)."""
    name = f"blocks.{layer}.{SITES[matrix].input_hook(model.cfg)}"
    if name not in model.hook_dict:
        raise UnsupportedModel(f"This model has no hook {name!r} carrying the input of {matrix}: WANDA cannot calibrate it.")
    return name


def check_supported(model, matrices: tuple[str, ...]) -> None:
    """Raise UnsupportedModel, with what to change, for block layouts whose hooks mislead WANDA."""
    cfg = model.cfg
    # lazy: transformer_lens takes seconds to import
    from transformer_lens.components import transformer_block  # older releases have no post-norm families

    if cfg.original_architecture in getattr(transformer_block, "POST_NORM_ARCHITECTURES", ()):
        raise UnsupportedModel(f"{cfg.original_architecture} normalizes after attention and MLP, so ln1/ln2 do not carry the matrices' inputs: not supported.")
    if cfg.positional_embedding_type == "shortformer":
        raise UnsupportedModel("Shortformer positional embeddings are added to W_Q/W_K's input after ln1: not supported.")
    if cfg.use_split_qkv_input or cfg.use_attn_in:
        raise UnsupportedModel("Turn off model.cfg.use_split_qkv_input / use_attn_in before compressing (they change the attention input hooks).")
    if cfg.attn_only and any(SITES[m].module == "mlp" for m in matrices):
        raise UnsupportedModel("This model is attention-only: drop W_in and W_out from the matrices to compress.")
    for layer in range(cfg.n_layers):
        for matrix in matrices:
            weight_param(model, layer, matrix)
            input_hook_name(model, layer, matrix)


# --- calibration: input norms by hook name ------------------------------------------------------

class _NormAccumulator:
    """Per-feature sum of squares (float64) of hooked activations, i.e. ||X_j||_2^2 over all tokens."""

    def __init__(self, model, hook_names):
        self.sumsq = {name: None for name in hook_names}
        self.affine = {name: _ln_affine(model, name) for name in hook_names}
        self.fired: set[str] = set()

    def hooks(self):
        return [(name, self._hook) for name in self.sumsq]

    def new_batch(self):
        self.fired.clear()

    def _hook(self, act, hook):
        # ln1 runs three times per forward (for Q, K and V) on the same input: count it once.
        if hook.name in self.fired:
            return
        self.fired.add(hook.name)
        # hook_z [batch, pos, head, d_head] flattens head-major, matching W_O's linear view.
        x_BPI = act.reshape(act.shape[0], act.shape[1], -1)
        w, b = self.affine[hook.name]
        x_BPI = x_BPI * w + b if w is not None else x_BPI
        prev = self.sumsq[hook.name]
        total = self._reduce(x_BPI.reshape(-1, x_BPI.shape[-1]))
        self.sumsq[hook.name] = total if prev is None else prev + total

    @staticmethod
    def _reduce(x_NI: torch.Tensor) -> torch.Tensor:
        # Totals stay on the CPU in float64 (MPS has no float64; the per-batch sum is float32 there).
        acc = torch.float32 if x_NI.device.type == "mps" else torch.float64
        return x_NI.to(acc).pow(2).sum(0).to("cpu", torch.float64)

    def _silent(self) -> None:
        silent = [name for name, s in self.sumsq.items() if s is None]
        if silent:
            raise UnsupportedModel(f"Hooks {silent} never fired during calibration: this block layout is not supported.")

    def norms(self) -> dict[str, torch.Tensor]:
        self._silent()
        return {name: s.sqrt() for name, s in self.sumsq.items()}


class _GramAccumulator(_NormAccumulator):
    """Sum of x x^T over all calibration tokens per hook: the (unscaled) Hessian of SparseGPT and GPTQ.

    Kept on the activations' device (d_in^2 values per hook); float64 on the CPU, float32 on GPUs,
    where float64 matmuls are slow and the reference implementations work in float32 too.
    """

    @staticmethod
    def _reduce(x_NI: torch.Tensor) -> torch.Tensor:
        acc = torch.float64 if x_NI.device.type == "cpu" else torch.float32
        x_NI = x_NI.to(acc)
        return x_NI.T @ x_NI

    def grams(self) -> dict[str, torch.Tensor]:
        self._silent()
        return dict(self.sumsq)


def _ln_affine(model, hook_name: str):
    """(w, b) that turn ``ln*.hook_normalized`` into the matrix's real input, or (None, None).

    transformer_lens fires hook_normalized before the LayerNorm's own scale and bias; when they are
    not folded into the next weights, the matrix reads ``normalized * w + b``.
    """
    if not hook_name.endswith(".hook_normalized"):
        return None, None
    module = model.mod_dict[hook_name.rsplit(".", 1)[0]]
    w, b = getattr(module, "w", None), getattr(module, "b", None)
    if w is None:
        return None, None
    return w.detach(), (b.detach() if b is not None else 0.0)


def _run_blocks(model, inputs, start, stop, batch_size, acc=None, keep_outputs=False):
    """Run blocks [start, stop) over ``inputs`` in batches (tokens when start is None, else residuals).

    Returns the residual leaving block stop-1 when keep_outputs (written over ``inputs`` in place
    when those are residuals, to hold one copy of the calibration activations).
    """
    outputs = inputs if start is not None else None
    for i in range(0, inputs.shape[0], batch_size):
        hooks = acc.hooks() if acc is not None else []
        if acc is not None:
            acc.new_batch()
        out = model.run_with_hooks(inputs[i:i + batch_size], fwd_hooks=hooks, start_at_layer=start, stop_at_layer=stop)
        if keep_outputs:
            if outputs is None:
                outputs = torch.empty((inputs.shape[0], *out.shape[1:]), dtype=out.dtype, device=out.device)
            outputs[i:i + batch_size] = out
    return outputs if keep_outputs else None


def _calibration_tokens(model, spec: CompressSpec, calib_tokens) -> torch.Tensor:
    if calib_tokens is None or calib_tokens.ndim != 2:
        raise ValueError(f"{spec.method} needs calibration tokens as a (n_sequences, seq_len) tensor of token ids.")
    if calib_tokens.shape[0] < spec.n_calibration:
        raise ValueError(
            f"{spec.method} asks for {spec.n_calibration} calibration sequences but {calib_tokens.shape[0]} were given: "
            "pass more, or lower n_calibration in the spec."
        )
    return calib_tokens[: spec.n_calibration].to(device=model.cfg.device, dtype=torch.long)


def _tick(progress: Progress | None, done: int, total: int, message: str) -> None:
    report(progress, done, total, message)


# --- compressors: (private model copy, spec, calibration tokens, progress) -> per-matrix outcome --

@dataclass(frozen=True)
class MatrixOutcome:
    """What a compressor did to one matrix."""

    mask: torch.Tensor | None = None  # bool, True = kept, shaped like the stored parameter (_W_K/_W_V under GQA)
    quant_error: float | None = None  # mean |w - q(w)| for quantization
    input_norm: torch.Tensor | None = None  # (d_in,) ||X_j||_2 used by WANDA (float64, on the CPU)
    weight: torch.Tensor | None = None  # the new parameter, where a mask cannot rebuild it (SparseGPT, GPTQ)


def _prune_block(model, layer: int, spec: CompressSpec, mask_fn) -> dict[MatrixKey, MatrixOutcome]:
    """Zero the weights of block ``layer`` that ``mask_fn(weight_OI, matrix)`` does not keep."""
    out = {}
    for matrix in model_matrices(model.cfg, spec.matrices):
        param = weight_param(model, layer, matrix)
        keep_OI, norm_I = mask_fn(SITES[matrix].to_linear(param.detach()), matrix)
        keep = SITES[matrix].from_linear(keep_OI, param.shape).contiguous()
        param.mul_(keep)
        out[(layer, matrix)] = MatrixOutcome(mask=keep, input_norm=norm_I)
    return out


def _blockwise(model, spec, progress, per_block) -> dict[MatrixKey, MatrixOutcome]:
    n_layers = model.cfg.n_layers
    outcomes: dict[MatrixKey, MatrixOutcome] = {}
    _tick(progress, 0, n_layers, f"{spec.label()}: starting")
    for layer in range(n_layers):
        outcomes.update(per_block(layer))
        _tick(progress, layer + 1, n_layers, f"{spec.label()}: layer {layer} done")
    return outcomes


def compress_dense(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    _tick(progress, 1, 1, "dense: nothing to do")
    return {}


def compress_magnitude(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    def per_block(layer):
        sparsity = spec.sparsity_for(layer)
        return _prune_block(model, layer, spec, lambda w_OI, _: (magnitude_mask(w_OI, sparsity, spec.n_m), None))

    return _blockwise(model, spec, progress, per_block)


def compress_magnitude_global(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    if spec.n_m is not None:
        raise ValueError("magnitude_global ranks a whole matrix and has no N:M form: use magnitude or wanda for N:M.")

    def per_block(layer):
        sparsity = spec.sparsity_for(layer)
        return _prune_block(model, layer, spec, lambda w_OI, _: (magnitude_global_mask(w_OI, sparsity), None))

    return _blockwise(model, spec, progress, per_block)


def _calibrated(model, spec, calib_tokens, progress, batch_size, accumulator, compress_block):
    """Run ``compress_block(layer, stats)`` for every block, ``stats`` being ``accumulator``'s totals by hook name.

    Sequential (``spec.sequential``): the residual entering block 0 is computed once; then for each
    block l its inputs are hooked on that residual (blocks < l already compressed), block l is
    compressed, and the residual is carried through the compressed block l: two block passes per
    layer instead of a forward per layer. Within a block all matrices are calibrated on the
    uncompressed block, as in the WANDA, SparseGPT and GPTQ references (W_O's input hook_z comes
    from the dense W_Q/W_K/W_V of the same block).
    """
    tokens = _calibration_tokens(model, spec, calib_tokens)
    n_layers = model.cfg.n_layers
    hooks_of = {l: sorted({input_hook_name(model, l, m) for m in model_matrices(model.cfg, spec.matrices)})
                for l in range(n_layers)}
    if not spec.sequential:
        acc = accumulator(model, [h for l in range(n_layers) for h in hooks_of[l]])
        _run_blocks(model, tokens, None, n_layers, batch_size, acc)
        dense_stats = acc
    else:
        resid_BPD = _run_blocks(model, tokens, None, 0, batch_size, keep_outputs=True)

    def per_block(layer):
        if spec.sequential:
            acc = accumulator(model, hooks_of[layer])
            _run_blocks(model, resid_BPD, layer, layer + 1, batch_size, acc)
        else:
            acc = dense_stats
        out = compress_block(layer, acc)
        if spec.sequential and layer + 1 < n_layers:
            _run_blocks(model, resid_BPD, layer, layer + 1, batch_size, keep_outputs=True)
        return out

    return _blockwise(model, spec, progress, per_block)


def compress_wanda(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    """WANDA (Sun et al. 2023): |W_ij| * ||X_j||_2 compared within output rows, layer-sequential
    when ``spec.sequential`` (see ``_calibrated``)."""
    def compress_block(layer, acc):
        norms = acc.norms()
        sparsity = spec.sparsity_for(layer)

        def mask_fn(w_OI, matrix):
            norm_I = norms[input_hook_name(model, layer, matrix)]
            return wanda_mask(w_OI, norm_I, sparsity, spec.n_m), norm_I

        return _prune_block(model, layer, spec, mask_fn)

    return _calibrated(model, spec, calib_tokens, progress, batch_size, _NormAccumulator, compress_block)


def _rewrite_block(model, layer: int, spec: CompressSpec, rewrite) -> dict[MatrixKey, MatrixOutcome]:
    """Replace each matrix of block ``layer`` by ``rewrite(weight_OI, matrix) -> (new_OI, keep_OI | None)``;
    the new weights are kept in the outcome (a mask alone cannot rebuild them)."""
    out = {}
    for matrix in model_matrices(model.cfg, spec.matrices):
        param = weight_param(model, layer, matrix)
        w_OI = SITES[matrix].to_linear(param.detach()).clone()  # the linear view may alias the parameter
        new_OI, keep_OI = rewrite(w_OI, matrix)
        error = None if keep_OI is not None else (w_OI - new_OI).abs().to(torch.float64).mean().item()
        param.copy_(SITES[matrix].from_linear(new_OI, param.shape))
        keep = SITES[matrix].from_linear(keep_OI, param.shape).contiguous() if keep_OI is not None else None
        out[(layer, matrix)] = MatrixOutcome(mask=keep, quant_error=error, weight=param.detach().clone())
    return out


def compress_sparsegpt(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    """SparseGPT (Frantar & Alistarh 2023): prune with second-order weight updates, layer-sequential."""
    def compress_block(layer, acc):
        grams = acc.grams()
        sparsity = spec.sparsity_for(layer)
        return _rewrite_block(model, layer, spec, lambda w_OI, matrix: sparsegpt(
            w_OI, grams[input_hook_name(model, layer, matrix)], sparsity, spec.n_m, spec.damping))

    return _calibrated(model, spec, calib_tokens, progress, batch_size, _GramAccumulator, compress_block)


def compress_gptq(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    """GPTQ (Frantar et al. 2022): quantize on RTN's grid with second-order error feedback, layer-sequential."""
    def compress_block(layer, acc):
        grams = acc.grams()
        return _rewrite_block(model, layer, spec, lambda w_OI, matrix: (gptq(
            w_OI, grams[input_hook_name(model, layer, matrix)], spec.bits, spec.group_size, spec.symmetric,
            spec.act_order, spec.damping), None))

    return _calibrated(model, spec, calib_tokens, progress, batch_size, _GramAccumulator, compress_block)


def compress_rtn(model, spec, calib_tokens=None, progress=None, *, batch_size=16):
    def per_block(layer):
        out = {}
        for matrix in model_matrices(model.cfg, spec.matrices):
            param = weight_param(model, layer, matrix)
            w_OI = SITES[matrix].to_linear(param.detach())
            q_OI = quantize_rtn(w_OI, spec.bits, spec.group_size, spec.symmetric)
            error = (w_OI - q_OI).abs().to(torch.float64).mean().item()
            param.copy_(SITES[matrix].from_linear(q_OI, param.shape))
            out[(layer, matrix)] = MatrixOutcome(quant_error=error)
        return out

    return _blockwise(model, spec, progress, per_block)


COMPRESSORS: dict[str, Callable[..., dict[MatrixKey, MatrixOutcome]]] = {
    "dense": compress_dense,
    "wanda": compress_wanda,
    "magnitude": compress_magnitude,
    "magnitude_global": compress_magnitude_global,
    "rtn": compress_rtn,
    "sparsegpt": compress_sparsegpt,
    "gptq": compress_gptq,
}


# --- the public entry points --------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixReport:
    """Measured state of one matrix after compression (read off the weights, not the masks)."""

    layer: int
    matrix: str
    shape: tuple[int, ...]
    n_zero: int
    numel: int
    quant_error: float | None = None

    @property
    def sparsity(self) -> float:
        return self.n_zero / self.numel


@dataclass(frozen=True, eq=False)
class CompressResult:
    """A compressed copy of the model and what was done to it."""

    model: object  # HookedTransformer
    spec: CompressSpec
    reports: tuple[MatrixReport, ...]
    masks: dict[MatrixKey, torch.Tensor] = field(default_factory=dict)  # pruning methods only
    input_norms: dict[MatrixKey, torch.Tensor] = field(default_factory=dict)  # WANDA only
    weights: dict[MatrixKey, torch.Tensor] = field(default_factory=dict)  # SparseGPT and GPTQ: the new parameters

    def report(self, layer: int, matrix: str) -> MatrixReport:
        return next(r for r in self.reports if (r.layer, r.matrix) == (layer, matrix))

    @property
    def overall_sparsity(self) -> float:
        return sum(r.n_zero for r in self.reports) / sum(r.numel for r in self.reports)

    def rows(self) -> list[dict]:
        """One dict per matrix, ready for a DataFrame."""
        return [
            {"layer": r.layer, "matrix": r.matrix, "sparsity": r.sparsity, "n_zero": r.n_zero,
             "numel": r.numel, "quant_error": r.quant_error, "method": self.spec.label()}
            for r in self.reports
        ]


def _measure(model, layer: int, matrix: str, outcome: MatrixOutcome | None) -> MatrixReport:
    param = weight_param(model, layer, matrix)
    return MatrixReport(
        layer=layer, matrix=matrix, shape=tuple(param.shape), n_zero=int((param == 0).sum().item()),
        numel=param.numel(), quant_error=outcome.quant_error if outcome else None,
    )


def compress_model(model, spec: CompressSpec, calib_tokens: torch.Tensor | None = None,
                   progress: Progress | None = None, *, batch_size: int = 16) -> CompressResult:
    """Compress a copy of ``model`` as ``spec`` says; the caller's model is never modified.

    calib_tokens: (n_sequences, seq_len) token ids, needed by activation-aware methods (wanda); the
    first ``spec.n_calibration`` rows are used. progress(done, total, message) is called after each
    layer; returning False stops the work with ``Cancelled``. batch_size: calibration sequences per
    forward pass (memory vs speed).
    """
    if spec.method not in COMPRESSORS:
        raise ValueError(f"Unknown compression method {spec.method!r}: choose from {sorted(COMPRESSORS)}.")
    check_supported(model, model_matrices(model.cfg, spec.matrices))
    beyond = [layer for layer, _ in spec.layer_sparsity if layer >= model.cfg.n_layers]
    if beyond:
        raise ValueError(f"layer_sparsity names layers {beyond} but the model has {model.cfg.n_layers} layers (0-{model.cfg.n_layers - 1}).")
    work = copy.deepcopy(model)
    with torch.no_grad():
        outcomes = COMPRESSORS[spec.method](work, spec, calib_tokens, progress, batch_size=batch_size)
        reports = tuple(
            _measure(work, layer, matrix, outcomes.get((layer, matrix)))
            for layer in range(work.cfg.n_layers) for matrix in model_matrices(work.cfg, spec.matrices)
        )
    return CompressResult(
        model=work, spec=spec, reports=reports,
        masks={k: o.mask for k, o in outcomes.items() if o.mask is not None},
        input_norms={k: o.input_norm for k, o in outcomes.items() if o.input_norm is not None},
        weights={k: o.weight for k, o in outcomes.items() if o.weight is not None},
    )


def _per_matrix(model, tensors: dict[MatrixKey, torch.Tensor], what: str, apply) -> object:
    """A deep copy of ``model`` with ``apply(param, tensor)`` run on each (layer, matrix) of ``tensors``."""
    work = copy.deepcopy(model)
    with torch.no_grad():
        for (layer, matrix), value in tensors.items():
            param = weight_param(work, layer, matrix)
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"{what} for layer {layer} {matrix} has shape {tuple(value.shape)}, the weight {tuple(param.shape)}.")
            apply(param, value.to(device=param.device))
    return work


def apply_weights(model, weights: dict[MatrixKey, torch.Tensor]):
    """A new model with its matrices replaced by ``weights`` ({(layer, matrix): parameter in transformer_lens orientation})."""
    return _per_matrix(model, weights, "Weights", lambda param, value: param.copy_(value.to(param.dtype)))


def apply_masks(model, masks: dict[MatrixKey, torch.Tensor]):
    """A new model with ``masks`` ({(layer, matrix): bool keep-mask in transformer_lens orientation}) applied."""
    return _per_matrix(model, masks, "Mask", lambda param, keep: param.mul_(keep.to(torch.bool)))
