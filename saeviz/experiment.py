"""The paper's experiment for one model: compressed variants, cached activations, SAE variants, metrics.

A Workbench is the I/O shell around saeviz's pure functions: it loads once, memoises in memory,
and reads/writes every result through the Store under keys derived from the specs, so a repeated
request (from the CLI, the dashboard or a test) is served without running the model again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

import torch

from saeviz.compress import apply_masks, ce_loss, compress_model
from saeviz.data import load_split
from saeviz.embedded import fingerprint as embedded_fingerprint
from saeviz.exclusive import exclusive, models_busy
from saeviz.jobs import Progress
from saeviz.resources import ensure_fits, estimate_activation_cache_bytes, fits
from saeviz.sae_prune import apply_sae_masks, prune_sae
from saeviz.specs import DENSE, EMBEDDED, EMBEDDED_SAE_TEMPLATE, CompressSpec, EvalSpec, ModelSpec, SaePruneSpec, SaeSpec, TrainSpec, site_hook, spec_key
from saeviz.store import Store
from saeviz.variants import VariantSpec


# Bumped whenever a change alters what a cached result would be, so stale entries are never served.
RESULTS_VERSION = 4


def combine_keys(*parts) -> str:
    blob = json.dumps([RESULTS_VERSION, *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]




class Workbench:
    """Everything computed for one model, cached; inject ``model``/``tokens`` to reuse loaded ones (tests)."""

    def __init__(self, model_spec: ModelSpec, store: Store | None = None, *, tokens_source: str = EMBEDDED,
                 sae_template: str = EMBEDDED_SAE_TEMPLATE, model=None, tokens: dict | None = None):
        self.model_spec, self.store = model_spec, store or Store()
        self.tokens_source, self.sae_template = tokens_source, sae_template
        self._base, self._tokens = model, dict(tokens or {})
        self._models, self._saes, self._engines, self._acts = {}, {}, {}, {}
        self._acts_lock = threading.Lock()
        self.run_keys: list[str] = []  # every run this workbench computed or read, in order
        self.run_rows: dict[str, object] = {}  # run key -> its rows, once read or written (no database round trip)
        # results from the embedded default belong to one build of its assets: a rebuilt model or
        # SAE must never be served results cached for the previous one
        uses_embedded = (model_spec.is_embedded or tokens_source == EMBEDDED
                         or sae_template.split("/")[0] == EMBEDDED)
        self.model_key = combine_keys(spec_key(model_spec), embedded_fingerprint() if uses_embedded else None)

    # --- inputs ---------------------------------------------------------------------------------
    @property
    def base_model(self):
        if self._base is None:
            from saeviz.models import load_model

            with models_busy():  # two sessions asking at once load it once
                if self._base is None:
                    self._base = load_model(self.model_spec)
        return self._base

    def tokens(self, split: str) -> torch.Tensor:
        if split not in self._tokens:
            self._tokens[split] = load_split(self.tokens_source, split)
        return self._tokens[split]

    def sae_spec(self, site: str, layer: int) -> SaeSpec:
        return SaeSpec.parse(self.sae_template.format(site=site, layer=layer))

    def pretrained_sae(self, site: str, layer: int):
        if (site, layer) not in self._saes:
            from saeviz.saes import check_compatible, load_sae

            sae = load_sae(self.sae_spec(site, layer), device=str(self.base_model.cfg.device))
            check_compatible(self.base_model, sae)
            self._saes[site, layer] = sae
        return self._saes[site, layer]

    # --- compressed models --------------------------------------------------------------------
    def compress_key(self, compress: CompressSpec) -> str:
        return combine_keys(self.model_key, spec_key(compress), self.tokens_source)

    def compressed(self, compress: CompressSpec, progress: Progress | None = None):
        """The compressed model; pruning masks come from the cache when present (no calibration pass)."""
        key = self.compress_key(compress)
        return self._models[key] if key in self._models else self._build_compressed(compress, key, progress)

    @exclusive
    def _build_compressed(self, compress: CompressSpec, key: str, progress: Progress | None):
        if key in self._models:  # built by another session while this one waited
            return self._models[key]
        masks = None if compress.method == "dense" else self.store.get_tensors("model_masks", key)
        if compress.method == "dense":
            model = self.base_model
        else:
            # both paths deep-copy the model: refuse before the copy, not half-way through it
            ensure_fits(_param_bytes(self.base_model), f"a {compress.label()} copy of the model",
                        device=str(self.base_model.cfg.device))
            if masks is not None:
                model = apply_masks(self.base_model, {_parse_matrix_key(k): v.bool() for k, v in masks.items()})
            else:
                self.store.ensure_writable()  # a read-only cache refuses now, before the calibration pass
                model = self._compress_and_store(compress, key, progress)
        self._models[key] = model
        return model

    def _compress_and_store(self, compress: CompressSpec, key: str, progress: Progress | None):
        start = time.perf_counter()
        result = compress_model(self.base_model, compress, self.tokens("calibration"), progress)
        seconds = time.perf_counter() - start
        if result.masks:
            self.store.put_tensors("model_masks", key, {f"{layer}.{m}": mask for (layer, m), mask in result.masks.items()},
                                   meta={"compression": compress.label()})
        if result.input_norms:  # WANDA's calibration statistics ||X_j||_2, kept for inspection
            self.store.put_tensors("calib_norms", key, {f"{layer}.{m}": n for (layer, m), n in result.input_norms.items()},
                                   meta={"compression": compress.label()})
        self.store.put_compress_stats([{**row, "compress_key": key, "model": self.model_spec.name, "compression": compress.label()}
                                       for row in result.rows()])
        self.store.put_timing(key, "compress", compress.label(), seconds)
        return result.model

    def model_ce(self, compress: CompressSpec, eval_spec: EvalSpec) -> float:
        """Eval-set CE loss of a compressed model (cached)."""
        run_key = combine_keys(self.compress_key(compress), "ce", spec_key(eval_spec))
        self.run_keys.append(run_key)
        cached = self.store.run_metrics(run_key)
        if "ce_loss" not in cached:
            with models_busy():
                ce = ce_loss(self.compressed(compress), self.tokens("eval")[: eval_spec.n_sequences], eval_spec.batch_size)
            self.store.put_metrics(self.run_info(compress, None, None, "model", None, run_key, "model"), {"ce_loss": ce})
            cached = {"ce_loss": ce}
        return cached["ce_loss"]

    def engine(self, compress: CompressSpec, n_sequences: int, batch_size: int = 16):
        """The splice engine (clean run cached once) of a model variant on the first eval sequences."""
        from saeviz.splice import SpliceEngine

        key = (self.compress_key(compress), n_sequences, batch_size)
        if key not in self._engines:
            with models_busy():
                if key not in self._engines:
                    self._engines[key] = SpliceEngine(self.compressed(compress), self.tokens("eval")[:n_sequences], batch_size)
        return self._engines[key]

    # --- activations -----------------------------------------------------------------------------
    def activations(self, compress: CompressSpec, hook: str, split: str, n_sequences: int) -> torch.Tensor:
        """[tokens, d] activations at a hook of the compressed model (special positions dropped), cached.

        The paper's three sites of a layer are collected together (one forward pass for the three), and
        the last few are kept in memory: a sweep reads each of them once per SAE variant."""
        key = self._acts_key(compress, hook, split, n_sequences)
        with self._acts_lock:  # sessions share the Workbench
            acts = self._acts.pop(key, None)
            if acts is not None:
                self._acts[key] = acts  # most recently used last
                return acts
        cached = self.store.get_tensors("acts", key)
        if cached is not None:
            return self._remember_acts(key, cached["acts"])
        return self._collect(compress, hook, split, n_sequences, key)

    @exclusive
    def _collect(self, compress: CompressSpec, hook: str, split: str, n_sequences: int, key: str) -> torch.Tensor:
        from saeviz.activations import collect_activations_multi, layer_of
        from saeviz.specs import SITE_HOOKS

        cached = self.store.get_tensors("acts", key)
        if cached is not None:  # collected by another session while this one waited
            return self._remember_acts(key, cached["acts"])
        layer = layer_of(hook)
        siblings = [h.format(layer=layer) for h in SITE_HOOKS.values()] if layer is not None else []
        hooks = [hook] + [h for h in siblings if h != hook and not self.store.array_path(
            "acts", self._acts_key(compress, h, split, n_sequences)).is_file()] if hook in siblings else [hook]
        tokens = self.tokens(split)[:n_sequences]
        device = str(self.base_model.cfg.device)
        width = sum(hook_width(self.base_model.cfg, h) for h in hooks)
        if len(hooks) > 1 and not fits(2 * estimate_activation_cache_bytes(tokens.numel(), width), device):
            # the siblings only save later forward passes: never a reason to refuse the site asked for
            hooks, width = [hook], hook_width(self.base_model.cfg, hook)
        # the batches and their concatenation coexist at the end: twice the cache at the peak
        ensure_fits(2 * estimate_activation_cache_bytes(tokens.numel(), width),
                    f"caching activations of {tokens.numel():,} tokens x {width} at {', '.join(hooks)}",
                    device=device)
        self.store.ensure_writable()  # a read-only cache refuses before the forward passes, not after
        got = collect_activations_multi(self.compressed(compress), hooks, tokens)
        for h, acts in got.items():
            self.store.put_tensors("acts", self._acts_key(compress, h, split, n_sequences), {"acts": acts},
                                   meta={"hook": h, "split": split})
        return self._remember_acts(key, got[hook])

    def _acts_key(self, compress: CompressSpec, hook: str, split: str, n_sequences: int) -> str:
        return combine_keys(self.compress_key(compress), hook, split, n_sequences)

    def _remember_acts(self, key: str, acts: torch.Tensor, keep: int = 6) -> torch.Tensor:
        with self._acts_lock:
            self._acts[key] = acts
            while len(self._acts) > keep:
                self._acts.pop(next(iter(self._acts)))
        return acts

    # --- SAE variants ---------------------------------------------------------------------------
    def pruned_sae(self, compress: CompressSpec, site: str, layer: int, prune: SaePruneSpec):
        """The pretrained SAE pruned with calibration activations of the compressed model (masks cached)."""
        sae = self.pretrained_sae(site, layer)
        if prune.sparsity == 0:
            return sae
        key = combine_keys(self.compress_key(compress), self.sae_spec(site, layer).label(), spec_key(prune))
        masks = self.store.get_tensors("sae_masks", key)
        if masks is None:
            calib = self.activations(compress, site_hook(site, layer), "calibration", self.tokens("calibration").shape[0])
            masks = prune_sae(sae, prune, calib).masks
            self.store.put_tensors("sae_masks", key, masks, meta={"sparsity": prune.sparsity})
        return apply_sae_masks(sae, {k: v.bool() for k, v in masks.items()})

    @exclusive
    def retrained_sae(self, compress: CompressSpec, site: str, layer: int, train: TrainSpec, progress: Progress | None = None):
        """An SAE trained from scratch on the compressed model at this site (saved and resumed in the cache)."""
        from saeviz.saes import load_sae_dir
        from saeviz.train import retrain_like

        key = combine_keys(self.compress_key(compress), self.sae_spec(site, layer).label(), spec_key(train))
        final = self.store.sae_dir(key) / "final"
        if (final / "cfg.json").is_file():
            return load_sae_dir(final, str(self.base_model.cfg.device))
        result = retrain_like(self.pretrained_sae(site, layer), self.compressed(compress), self.tokens("train"),
                              train, self.store.sae_dir(key), progress)
        self.store.put_timing(key, "retrain", f"{compress.label()} {site} L{layer}", result.seconds, result.tokens)
        self.store.flush()  # a finished training is recorded at once, even inside a sweep unit's batch
        return result.sae

    # --- variants ---------------------------------------------------------------------------------
    @staticmethod
    def model_compression(compress: CompressSpec, variant: VariantSpec) -> CompressSpec:
        """The model a variant runs on: the dense one for the dense reference, else the compressed one."""
        return DENSE if variant.on_dense_model else compress

    def variant_model(self, compress: CompressSpec, variant: VariantSpec):
        return self.compressed(self.model_compression(compress, variant))

    def variant_key(self, compress: CompressSpec, site: str, layer: int, variant: VariantSpec) -> str:
        """Stable key of (model variant, SAE variant, site, layer): dense and compressed never share one."""
        return combine_keys(self.compress_key(self.model_compression(compress, variant)), self.sae_spec(site, layer).label(),
                            variant.cache_identity())

    def variant_sae(self, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, progress: Progress | None = None):
        """The SAE of a variant (pruned_best is resolved through the cached sweep of its sparsities)."""
        if variant.kind in ("dense", "pretrained"):
            return self.pretrained_sae(site, layer)
        if variant.kind == "pruned":
            return self.pruned_sae(compress, site, layer, variant.prune_spec())
        if variant.kind == "retrained":
            return self.retrained_sae(compress, site, layer, variant.train_spec, progress)
        from saeviz.evals.runner import resolve_pruned_best

        return self.variant_sae(compress, site, layer, resolve_pruned_best(self, compress, site, layer, variant).variant)

    def world(self) -> dict | None:
        """The embedded toy world when the model and tokens are the embedded default, else None."""
        if not (self.model_spec.is_embedded and self.tokens_source == EMBEDDED):
            return None
        from saeviz.embedded import load_toyworld

        return load_toyworld()

    def memo_tensors(self, compress: CompressSpec, hook: str, name: str, compute) -> dict[str, torch.Tensor]:
        """Tensors that depend on a model variant and hook only (e.g. probes), computed once and stored."""
        key = combine_keys(self.compress_key(compress), hook, name)
        cached = self.store.get_tensors("eval_memo", key)
        if cached is None:
            cached = compute()
            self.store.put_tensors("eval_memo", key, cached, meta={"hook": hook, "name": name})
        return cached

    def run_info(self, compress: CompressSpec, site, layer, variant: str | None, sae_sparsity: float | None, run_key: str,
                 eval_name: str = "core") -> dict:
        return {"run_key": run_key, "model": self.model_spec.name, "compression": compress.label(), "site": site,
                "layer": layer, "variant": variant, "sae_sparsity": sae_sparsity, "eval": eval_name}


def hook_width(cfg, hook: str) -> int:
    """Width of the [tokens, width] activations collected at ``hook`` (heads flattened, as activations.py does)."""
    leaf = hook.rsplit(".", 1)[-1]
    if leaf in ("hook_z", "hook_q"):
        return cfg.n_heads * cfg.d_head
    if leaf in ("hook_k", "hook_v"):
        return (getattr(cfg, "n_key_value_heads", None) or cfg.n_heads) * cfg.d_head
    if leaf in ("hook_pre", "hook_post", "hook_pre_linear"):
        return cfg.d_mlp
    return cfg.d_model


def _param_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def _parse_matrix_key(text: str) -> tuple[int, str]:
    layer, matrix = text.split(".", 1)
    return int(layer), matrix


