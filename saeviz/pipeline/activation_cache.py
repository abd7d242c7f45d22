"""Activations of a model variant at a hook, collected once and kept: the last few in memory, all of
them in the Store (``acts`` arrays under ``keys.acts_key``).

A sweep reads each site's activations once per SAE variant, so the paper's three sites of a layer are
collected in one forward pass when they fit in memory, and the most recently read are kept in memory.
"""

from __future__ import annotations

import threading
from typing import Callable

import torch

from saeviz.exclusive import exclusive
from saeviz.model.activations import collect_activations_multi
from saeviz.model.hooks import hook_width, layer_of
from saeviz.resources import ensure_fits, estimate_activation_cache_bytes, fits
from saeviz.specs import SITE_HOOKS
from saeviz.store.db import Store


class ActivationCache:
    """[tokens, d] activations (special positions dropped) by (model key, hook, split, n_sequences).

    ``model(compressed_key)`` and ``tokens(split)`` hand out the loaded inputs; the cache never loads
    a model itself, so it can be tested with any callables."""

    def __init__(self, store: Store, keep: int = 6):
        self.store, self.keep = store, keep
        self._memory: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()  # sessions share one cache

    def __len__(self) -> int:
        return len(self._memory)

    def in_memory(self) -> list[str]:
        """The keys held in memory, least recently used first."""
        with self._lock:
            return list(self._memory)

    def get(self, hook: str, split: str, key_of: Callable[[str], str], model: Callable[[], object],
            tokens: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The activations at ``hook`` of the token rows ``tokens()`` of ``split``, stored under ``key_of(hook)``
        (the model variant and the rows are in the key): from memory, from the Store, or collected from
        ``model()``."""
        key = key_of(hook)
        with self._lock:
            acts = self._memory.pop(key, None)
            if acts is not None:
                self._memory[key] = acts  # most recently used last
                return acts
        cached = self.store.get_tensors("acts", key)
        if cached is not None:
            return self._remember(key, cached["acts"])
        return self._collect(key, key_of, hook, split, model, tokens)

    @exclusive
    def preload(self, hooks: list[str], split: str, key_of: Callable[[str], str], model: Callable[[], object],
                tokens: Callable[[], torch.Tensor]) -> list[str]:
        """Collect the hooks not yet stored in one forward pass when together they fit in memory (a sweep's
        units at every layer: one pass instead of one per layer); returns the hooks collected. Hooks that
        do not fit together are left to ``get``, one layer at a time."""
        missing = [h for h in dict.fromkeys(hooks) if not self.store.has_array("acts", key_of(h))]
        if len(missing) < 2:
            return []
        lm, rows = model(), tokens()
        width = sum(hook_width(lm.cfg, h) for h in missing)
        if not fits(2 * estimate_activation_cache_bytes(rows.numel(), width), str(lm.cfg.device)):
            return []
        self.store.ensure_writable()
        for h, acts in collect_activations_multi(lm, missing, rows).items():
            self.store.put_tensors("acts", key_of(h), {"acts": acts}, meta={"hook": h, "split": split})
        return missing

    @exclusive
    def _collect(self, key: str, key_of: Callable[[str], str], hook: str, split: str, model: Callable[[], object],
                 tokens: Callable[[], torch.Tensor]) -> torch.Tensor:
        cached = self.store.get_tensors("acts", key)
        if cached is not None:  # collected by another session while this one waited
            return self._remember(key, cached["acts"])
        lm, rows = model(), tokens()
        hooks = self._hooks_to_collect(hook, key_of, lm.cfg, rows.numel())
        width = sum(hook_width(lm.cfg, h) for h in hooks)
        # the batches and their concatenation coexist at the end: twice the cache at the peak
        ensure_fits(2 * estimate_activation_cache_bytes(rows.numel(), width),
                    f"caching activations of {rows.numel():,} tokens x {width} at {', '.join(hooks)}",
                    device=str(lm.cfg.device))
        self.store.ensure_writable()  # a read-only cache refuses before the forward passes, not after
        got = collect_activations_multi(lm, hooks, rows)
        for h, acts in got.items():
            self.store.put_tensors("acts", key_of(h), {"acts": acts}, meta={"hook": h, "split": split})
        return self._remember(key, got[hook])

    def _hooks_to_collect(self, hook: str, key_of: Callable[[str], str], cfg, n_tokens: int) -> list[str]:
        """``hook`` and, when it is one of the paper's sites, its layer's uncached sibling sites if they fit."""
        layer = layer_of(hook)
        siblings = [h.format(layer=layer) for h in SITE_HOOKS.values()] if layer is not None else []
        if hook not in siblings:
            return [hook]
        hooks = [hook] + [h for h in siblings if h != hook and not self.store.has_array("acts", key_of(h))]
        width = sum(hook_width(cfg, h) for h in hooks)
        if len(hooks) > 1 and not fits(2 * estimate_activation_cache_bytes(n_tokens, width), str(cfg.device)):
            return [hook]  # the siblings only save later forward passes: never a reason to refuse the site asked for
        return hooks

    def _remember(self, key: str, acts: torch.Tensor) -> torch.Tensor:
        with self._lock:
            self._memory[key] = acts
            while len(self._memory) > self.keep:
                self._memory.pop(next(iter(self._memory)))
        return acts
