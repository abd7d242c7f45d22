"""Cache keys as pure functions of specs: the same request from the CLI, the dashboard or a test gets the
same key, on any machine.

Every key is ``combine_keys`` of its parts, so a key changes whenever one of its inputs does. The
shipped demo results are served under these keys: changing how one is formed (or RESULTS_VERSION)
stops them being served, which ``tests/store/test_keys.py`` guards against by pinning known values.
"""

from __future__ import annotations

import hashlib
import json

from saeviz.specs import DENSE, EMBEDDED, CompressSpec, ModelSpec, spec_key

# Bumped whenever a change alters what a cached result would be, so stale entries are never served.
RESULTS_VERSION = 4


def combine_keys(*parts) -> str:
    """16 hex characters of a hash of ``parts`` (specs' keys, labels, numbers) and RESULTS_VERSION."""
    blob = json.dumps([RESULTS_VERSION, *parts], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def uses_embedded(model_spec: ModelSpec, tokens_source: str, sae_template: str) -> bool:
    """Whether any input comes from the embedded default (its results then belong to one build of it)."""
    return model_spec.is_embedded or tokens_source == EMBEDDED or sae_template.split("/")[0] == EMBEDDED


def model_key(model_spec: ModelSpec, embedded_fingerprint: str | None) -> str:
    """The model's key; ``embedded_fingerprint`` is the embedded assets' fingerprint when any input uses
    them (a rebuilt model or SAE must never be served results cached for the previous one), else None."""
    return combine_keys(spec_key(model_spec), embedded_fingerprint)


def compress_key(model: str, compress: CompressSpec, tokens_source: str, checkpoint_id: str | None = None) -> str:
    """A compressed variant of the model keyed ``model``, calibrated on ``tokens_source``; a checkpoint
    variant also by its files' ``checkpoint_id`` (a re-saved checkpoint gets a new key)."""
    if checkpoint_id is not None:
        return combine_keys(model, spec_key(compress), tokens_source, checkpoint_id)
    return combine_keys(model, spec_key(compress), tokens_source)


def model_compression(compress: CompressSpec, variant) -> CompressSpec:
    """The model a variant runs on: the dense one for the dense reference, else the compressed one."""
    return DENSE if variant.on_dense_model else compress


def acts_key(compressed: str, hook: str, split: str, n_sequences: int) -> str:
    """Activations at ``hook`` of the first ``n_sequences`` of a split, on the model keyed ``compressed``."""
    return combine_keys(compressed, hook, split, n_sequences)


def variant_key(compressed: str, sae_label: str, variant) -> str:
    """(model variant, SAE variant, site, layer); ``compressed`` is the key of ``model_compression``'s
    model, so dense and compressed never share a key."""
    return combine_keys(compressed, sae_label, variant.cache_identity())


def run_key(variant: str, eval_name: str, eval_spec) -> str:
    """One evaluation (by name and spec) of the variant keyed ``variant``."""
    return combine_keys(variant, eval_name, spec_key(eval_spec))


def model_ce_key(compressed: str, eval_spec) -> str:
    """The eval-set CE loss of the model keyed ``compressed``."""
    return combine_keys(compressed, "ce", spec_key(eval_spec))


def sae_masks_key(compressed: str, sae_label: str, prune) -> str:
    """The masks of an SAE pruned with calibration activations of the model keyed ``compressed``."""
    return combine_keys(compressed, sae_label, spec_key(prune))


def retrained_key(compressed: str, sae_label: str, train) -> str:
    """An SAE retrained on the model keyed ``compressed`` in place of the SAE labelled ``sae_label``."""
    return combine_keys(compressed, sae_label, spec_key(train))


def memo_key(compressed: str, hook: str, name: str) -> str:
    """Tensors that depend on a model variant and hook only (probes, ...)."""
    return combine_keys(compressed, hook, name)
