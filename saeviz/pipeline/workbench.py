"""The Workbench: the loaded inputs of one model's experiment and the artifacts memoised from them.

It holds, by composition: the base model and token splits (loaded on first use), the pretrained SAEs,
the compressed models, the splice engines, an ActivationCache and the Store. It computes nothing
itself: compressing lives in ``pipeline.compressed``, SAE variants in ``pipeline.sae_variants``,
evaluations in ``pipeline.runner``, keys in ``store.keys``; ``loaded()`` says what it holds.
"""

from __future__ import annotations

from pathlib import Path

import torch

from saeviz.embedded import fingerprint as embedded_fingerprint
from saeviz.embedded import load_toyworld
from saeviz.embedded import n_layers as embedded_n_layers
from saeviz.errors import CompatibilityError
from saeviz.evals.splice import SpliceEngine
from saeviz.exclusive import models_busy
from saeviz.jobs import Progress
from saeviz.model.checkpoint import fingerprint as checkpoint_fingerprint
from saeviz.model.load import load_model
from saeviz.pipeline.activation_cache import ActivationCache
from saeviz.pipeline.compressed import compressed_model
from saeviz.sae.load import check_compatible, load_sae, sae_config, sae_hook_name, sae_site
from saeviz.specs import CHECKPOINT, EMBEDDED, EMBEDDED_SAE_TEMPLATE, SITES, CompressSpec, ModelSpec, SaeSpec, site_hook
from saeviz.store import keys
from saeviz.store.db import Store
from saeviz.tokens.fingerprint import fingerprint, tokenizer_for
from saeviz.tokens.tokenset import check_tokenizer, load_split, token_set_key


class Workbench:
    """Everything loaded for one model; inject ``model``/``tokens`` to reuse loaded ones (tests)."""

    def __init__(self, model_spec: ModelSpec, store: Store | None = None, *, tokens_source: str = EMBEDDED,
                 sae_template: str = EMBEDDED_SAE_TEMPLATE, model=None, tokens: dict | None = None):
        self.model_spec, self.store = model_spec, store or Store()
        self.tokens_source, self.sae_template = tokens_source, sae_template
        self._base, self._tokens = model, dict(tokens or {})
        self._models, self._saes, self._engines = {}, {}, {}
        self._world: dict | None = None
        self._tokens_checked = False
        self._hooks: dict[tuple[str, int], str] = {}
        self.acts = ActivationCache(self.store)
        self.run_keys: list[str] = []  # every run this workbench computed or read, in order
        self.run_rows: dict[str, object] = {}  # run key -> its rows, once read or written (no database round trip)
        self.run_absent: set[str] = set()  # run keys the last prefetch found not stored (each read once more at most)
        embedded = keys.uses_embedded(model_spec, tokens_source, sae_template)
        self.model_key = keys.model_key(model_spec, embedded_fingerprint() if embedded else None)

    # --- loaded inputs ------------------------------------------------------------------------------
    @property
    def base_model(self):
        if self._base is None:
            with models_busy():  # two sessions asking at once load it once
                if self._base is None:
                    self._base = load_model(self.model_spec)
        return self._base

    def tokens(self, split: str) -> torch.Tensor:
        if split not in self._tokens:
            if not self._tokens_checked:
                check_tokenizer(self.tokens_source, self.tokenizer_fingerprint(), self.model_spec.name)
                self._tokens_checked = True
            self._tokens[split] = load_split(self.tokens_source, split)
        return self._tokens[split]

    def tokenizer_fingerprint(self):
        """The model's tokenizer, from the loaded model when there is one, else loaded on its own (cheap)."""
        tokenizer = getattr(self._base, "tokenizer", None) if self._base is not None else None
        return fingerprint(tokenizer if tokenizer is not None else tokenizer_for(self.model_spec))

    def sae_spec(self, site: str, layer: int) -> SaeSpec:
        try:
            name = self.sae_template.format(site=site, layer=layer)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"SAE template {self.sae_template!r} has a field other than {{site}} and {{layer}} "
                             f"({type(exc).__name__}: {exc}): write e.g. gpt2-small-res-jb/blocks.{{layer}}.hook_resid_pre "
                             "or /saes/{site}/layer_{layer}.") from None
        return SaeSpec.parse(name)

    def n_layers(self) -> int:
        """The model's layer count; the embedded default's is read from its config (no model load)."""
        if self._base is None and self.model_spec.is_embedded:
            return embedded_n_layers()
        return self.base_model.cfg.n_layers

    def check_units(self, sites, layers) -> None:
        """Refuse layers the model does not have, and SAE names the template cannot make, before any work."""
        self.check_layers(layers)
        for site in sites:
            for layer in layers or range(self.n_layers()):
                self.sae_spec(site, layer)

    def check_layers(self, layers) -> None:
        """Refuse layers the model does not have before any work starts."""
        n = self.n_layers()
        bad = [layer for layer in layers if not 0 <= int(layer) < n]
        if bad:
            raise ValueError(f"The model has {n} layers ({'0' if n == 1 else f'0-{n - 1}'}): layer "
                             f"{', '.join(map(str, bad))} is not one of them.")

    def sae_hook(self, site: str, layer: int) -> str:
        """The hook the (site, layer) SAE reads, as its config names it (gpt2-small-res-jb reads
        hook_resid_pre, not the site's default hook_resid_post)."""
        if self.sae_template == EMBEDDED_SAE_TEMPLATE:
            return site_hook(site, layer)
        if (site, layer) not in self._hooks:  # cfg.json only: the weights need not load to label a plot
            hook = (sae_hook_name(self._saes[site, layer]) if (site, layer) in self._saes else
                    sae_config(self.sae_spec(site, layer)).get("hook_name") or site_hook(site, layer))
            if sae_site(hook) != site:
                raise CompatibilityError(
                    f"SAE {self.sae_spec(site, layer).label()} reads {hook} (site {sae_site(hook)}), not site {site!r}: "
                    f"its template has no {{site}}, so it serves site {sae_site(hook)} only (choose that site, or give "
                    "one template per site).")
            self._hooks[site, layer] = hook
        return self._hooks[site, layer]

    def sites(self, layer: int = 0) -> tuple[str, ...]:
        """The sites this workbench has SAEs for: all three for a template with {site}, else the site of the
        hook its SAEs read, as the SAE at ``layer`` says (gpt2-small-res-jb covers the residual stream only)."""
        if "{site}" in self.sae_template:
            return SITES
        hook = sae_config(self.sae_spec(SITES[0], layer)).get("hook_name") or ""
        return (sae_site(hook),) if sae_site(hook) in SITES else SITES

    def pretrained_sae(self, site: str, layer: int):
        if (site, layer) not in self._saes:
            self.sae_hook(site, layer)  # refuses an SAE of another site before its weights load
            sae = load_sae(self.sae_spec(site, layer), device=str(self.base_model.cfg.device))
            check_compatible(self.base_model, sae)
            self._saes[site, layer] = sae
        return self._saes[site, layer]

    def world(self) -> dict | None:
        """The embedded toy world when the model and tokens are the embedded default, else None."""
        if not (self.model_spec.is_embedded and self.tokens_source == EMBEDDED):
            return None
        if self._world is None:
            self._world = load_toyworld()
        return self._world

    def loaded(self) -> dict:
        """What is in memory now: the base model (or not), compressed models, SAEs, engines, activations."""
        return {"base_model": self._base is not None, "compressed_models": len(self._models),
                "saes": sorted(self._saes), "engines": len(self._engines), "activations": len(self.acts),
                "token_splits": sorted(self._tokens), "runs_read": len(self.run_rows)}

    # --- memoised artifacts -------------------------------------------------------------------------
    def compress_key(self, compress: CompressSpec) -> str:
        checkpoint_id = checkpoint_fingerprint(Path(compress.checkpoint)) if compress.method == CHECKPOINT else None
        return keys.compress_key(self.model_key, compress, token_set_key(self.tokens_source), checkpoint_id)

    def compressed(self, compress: CompressSpec, progress: Progress | None = None):
        """The compressed model; pruning masks come from the cache when present (no calibration pass)."""
        key = self.compress_key(compress)
        if key not in self._models:
            with models_busy():
                if key not in self._models:  # built by another session while this one waited
                    self._models[key] = compressed_model(self.base_model, compress, key, self.store,
                                                         lambda: self.tokens("calibration"), self.model_spec.name,
                                                         progress)
        return self._models[key]

    def preload_activations(self, compress: CompressSpec, hooks: list[str], split: str, n_sequences: int) -> list[str]:
        """Collect several hooks' activations in one pass where they fit (see ActivationCache.preload)."""
        compressed = self.compress_key(compress)
        return self.acts.preload(hooks, split, lambda h: keys.acts_key(compressed, h, split, n_sequences),
                                 lambda: self.compressed(compress), lambda: self.tokens(split)[:n_sequences])

    def activations(self, compress: CompressSpec, hook: str, split: str, n_sequences: int) -> torch.Tensor:
        """[tokens, d] activations at a hook of the compressed model (special positions dropped), cached."""
        compressed = self.compress_key(compress)
        return self.acts.get(hook, split, lambda h: keys.acts_key(compressed, h, split, n_sequences),
                             lambda: self.compressed(compress), lambda: self.tokens(split)[:n_sequences])

    def engine(self, compress: CompressSpec, n_sequences: int, batch_size: int = 16) -> SpliceEngine:
        """The splice engine (clean run cached once) of a model variant on the first eval sequences."""
        key = (self.compress_key(compress), n_sequences, batch_size)
        if key not in self._engines:
            with models_busy():
                if key not in self._engines:
                    self._engines[key] = SpliceEngine(self.compressed(compress), self.tokens("eval")[:n_sequences], batch_size)
        return self._engines[key]
