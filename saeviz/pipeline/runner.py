"""Running evaluations for (model variant, SAE variant, site, layer): inputs built through a Workbench,
results read from or written to the cache under a key of every spec involved."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from saeviz.evals import get_evaluation
from saeviz.evals.base import ROW_COLUMNS, EvalInputs
from saeviz.evals.splice import engine_applies
from saeviz.exclusive import models_busy, models_busy_waited
from saeviz.jobs import Progress, report
from saeviz.model.loss import ce_loss
from saeviz.pipeline.sae_variants import variant_key, variant_model, variant_sae
from saeviz.sae.variants import VariantSpec, select_pruned_best, variant_label
from saeviz.specs import CompressSpec, EvalSpec
from saeviz.store import keys

FLUSH_AFTER_S = 5.0
LABEL_COLUMNS = ["model", "compression", "site", "layer", "variant", "sae_sparsity", "eval"]


@dataclass(frozen=True)
class Resolved:
    """A pruned_best variant resolved to the pruned SAE it stands for."""

    variant: VariantSpec
    within_tolerance: bool


def resolve_pruned_best(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec,
                        eval_spec: EvalSpec | None = None, progress: Progress | None = None) -> Resolved:
    """Evaluate (or read) the core metric of every swept sparsity and of the retrained SAE, apply the BestRule."""
    eval_spec = eval_spec or EvalSpec()
    metric = variant.best.metric
    retrained_loss = None
    if variant.vs_retrained:
        retrained = evaluate(bench, compress, VariantSpec("retrained", train=variant.train), site, layer, "core", eval_spec, progress)
        retrained_loss = _scalar(retrained, metric)
    losses = {}
    for s in variant.sweep:
        if s >= variant.best.min_sparsity - 1e-12:
            got = evaluate(bench, compress, VariantSpec("pruned", s, variant.prune_method), site, layer, "core", eval_spec, progress)
            losses[s] = _scalar(got, metric)
    best, within = select_pruned_best(losses, retrained_loss, variant.best)
    return Resolved(VariantSpec("pruned", best, variant.prune_method), within)


def _scalar(rows: pd.DataFrame, metric: str) -> float:
    hit = rows[(rows["item"] == "") & (rows["metric"] == metric)]
    if hit.empty:
        raise ValueError(f"Metric {metric!r} was not computed by the core evaluation; the BestRule needs one it computes.")
    return float(hit["value"].iloc[0])


def sae_of(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, progress: Progress | None = None):
    """The SAE of any variant, pruned_best resolved through its (cached) sweep first."""
    if variant.kind == "pruned_best":
        variant = resolve_pruned_best(bench, compress, site, layer, variant, progress=progress).variant
    return variant_sae(bench, compress, site, layer, variant, progress)


def run_key(bench, compress: CompressSpec, site: str, layer: int, variant: VariantSpec, name: str, spec) -> str:
    return keys.run_key(variant_key(bench, compress, site, layer, variant), name, spec)


def run_info(bench, compress: CompressSpec, site, layer, variant: str | None, sae_sparsity: float | None, run_key: str,
             eval_name: str = "core") -> dict:
    """The labels stored with a run's rows."""
    return {"run_key": run_key, "model": bench.model_spec.name, "compression": compress.label(), "site": site,
            "layer": layer, "variant": variant, "sae_sparsity": sae_sparsity, "eval": eval_name}


def model_ce(bench, compress: CompressSpec, eval_spec: EvalSpec) -> float:
    """Eval-set CE loss of a compressed model (cached)."""
    key = keys.model_ce_key(bench.compress_key(compress), eval_spec)
    bench.run_keys.append(key)
    cached = bench.store.run_metrics(key)
    if "ce_loss" not in cached:
        with models_busy():
            model = bench.compressed(compress)
            if engine_applies(model):  # the splices need this clean run anyway: its CE comes with it
                ce = bench.engine(compress, eval_spec.n_sequences, eval_spec.batch_size).model_ce()
            else:
                ce = ce_loss(model, bench.tokens("eval")[: eval_spec.n_sequences], eval_spec.batch_size)
        bench.store.put_metrics(run_info(bench, compress, None, None, "model", None, key, "model"), {"ce_loss": ce})
        cached = {"ce_loss": ce}
    return cached["ce_loss"]


def memo_tensors(bench, compress: CompressSpec, hook: str, name: str, compute) -> dict:
    """Tensors that depend on a model variant and hook only (e.g. probes), computed once and stored."""
    key = keys.memo_key(bench.compress_key(compress), hook, name)
    cached = bench.store.get_tensors("eval_memo", key)
    if cached is None:
        cached = compute()
        bench.store.put_tensors("eval_memo", key, cached, meta={"hook": hook, "name": name})
    return cached


def prefetch(bench, compress: CompressSpec, site: str, layer: int, variants: list[VariantSpec], name: str = "core",
             spec=None) -> None:
    """Read every stored run of these variants in one query (a sweep unit asks for about ten)."""
    spec = spec if spec is not None else get_evaluation(name).spec_cls()
    keys = [run_key(bench, compress, site, layer, v, name, spec) for v in variants]
    asked = [k for k in keys if k not in bench.run_rows]
    found = bench.store.runs_rows(asked)
    bench.run_rows.update(found)
    bench.run_absent = set(asked) - set(found)  # evaluate() skips its own read of these


def eval_inputs(bench, compress: CompressSpec, variant: VariantSpec, site: str, layer: int,
                progress: Progress | None = None) -> EvalInputs:
    model_comp = keys.model_compression(compress, variant)
    hook = bench.sae_hook(site, layer)
    return EvalInputs(
        model=variant_model(bench, compress, variant), sae=variant_sae(bench, compress, site, layer, variant, progress),
        hook=hook, site=site, layer=layer, tokens=bench.tokens,
        acts=lambda split, n: bench.activations(model_comp, hook, split, n), world=bench.world(),
        memo=lambda name, fn: memo_tensors(bench, model_comp, hook, name, fn),
        progress=lambda done, total, message="": report(progress, done, total, message),
        engine=lambda n, batch: bench.engine(model_comp, n, batch),
    )


def _labelled(rows: pd.DataFrame, info: dict) -> pd.DataFrame:
    out = rows[ROW_COLUMNS].sort_values(["item", "metric"], kind="stable").reset_index(drop=True)
    for col in LABEL_COLUMNS:
        value = info[col]
        if col == "sae_sparsity":
            value = float("nan") if value is None else float(value)
        out.insert(len(out.columns) - 3, col, value)
    out.insert(0, "run_key", info["run_key"])
    return out


def evaluate(bench, compress: CompressSpec, variant: VariantSpec, site: str, layer: int, name: str = "core",
             spec=None, progress: Progress | None = None) -> pd.DataFrame:
    """Rows (labels + item, metric, value) of one evaluation of one variant; computed once, then read."""
    evaluation = get_evaluation(name)
    spec = spec if spec is not None else evaluation.spec_cls()
    key = run_key(bench, compress, site, layer, variant, name, spec)
    bench.run_keys.append(key)
    info = run_info(bench, keys.model_compression(compress, variant), site, layer, variant.kind,
                          variant.sae_sparsity if variant.kind == "pruned" else None, key, name)
    memo = bench.run_rows
    if key in memo:
        cached = memo[key]
    elif key in bench.run_absent:  # the unit's prefetch just found it missing
        bench.run_absent.discard(key)
        cached = ()
    else:
        cached = bench.store.run_rows(key)
    if len(cached):
        memo[key] = cached
        chosen = cached[(cached["item"] == "") & (cached["metric"] == "sae_sparsity")]["value"]
        if len(chosen):  # pruned_best records the sparsity it resolved to
            info["sae_sparsity"] = float(chosen.iloc[0])
        return _labelled(cached, info)
    if variant.kind == "pruned_best":
        resolved = resolve_pruned_best(bench, compress, site, layer, variant, spec if name == "core" else None, progress)
        rows = evaluate(bench, compress, resolved.variant, site, layer, name, spec, progress)[ROW_COLUMNS]
        extra = {"within_tolerance": float(resolved.within_tolerance), "sae_sparsity": resolved.variant.sae_sparsity}
        rows = pd.concat([rows, pd.DataFrame([{"item": "", "metric": k, "value": v} for k, v in extra.items()])],
                         ignore_index=True)
        info["sae_sparsity"] = resolved.variant.sae_sparsity
        timing = None
    else:
        with models_busy_waited() as waited:  # the models are shared between the dashboard's sessions and jobs
            if waited and len(stored := bench.store.run_rows(key)):  # another session computed it meanwhile
                memo[key] = stored
                return _labelled(stored, info)
            start = time.perf_counter()
            rows = evaluation.run(eval_inputs(bench, compress, variant, site, layer, progress), spec)
            timing = {"kind": f"eval:{name}", "label": f"{info['compression']} {site} L{layer} {variant.label()}",
                      "seconds": time.perf_counter() - start}
    bench.store.put_metrics(info, rows=rows, timing=timing)
    if timing is not None and timing["seconds"] > FLUSH_AFTER_S:
        bench.store.flush()  # inside a batch, long work (a retraining) is written at once, never lost to a kill
    memo[key] = rows[ROW_COLUMNS].reset_index(drop=True)
    return _labelled(rows, info)


def step_progress(progress: Progress | None, done: int, total: int, label: str) -> Progress | None:
    """A callback for one step of a longer job: the step's own progress shows in the job's message, and a
    cancel still stops it (the job's bar keeps its total)."""
    if progress is None:
        return None
    return lambda d, t, message="": progress(done, total, f"{label}: {message} ({d}/{t})")


def evaluate_suite(bench, compress: CompressSpec, site: str, layer: int, variants: list[VariantSpec],
                   names: list[str], specs: dict | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Every evaluation in ``names`` for every variant at (site, layer); what the cache holds is read."""
    specs = specs or {}
    total, done, frames = len(variants) * len(names), 0, []
    for name in names:
        for variant in variants:
            label = f"{name}: {variant.label()} {site} L{layer}"
            report(progress, done, total, label)
            frames.append(evaluate(bench, compress, variant, site, layer, name, specs.get(name), step_progress(progress, done, total, label)))
            done += 1
    report(progress, total, total, "done")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def wide(rows: pd.DataFrame, item: str | None = "") -> pd.DataFrame:
    """Tidy rows -> one row per (eval, item, metric), one column per variant label (pruned25, ...)."""
    if item is not None:
        rows = rows[rows["item"] == item]
    label = [variant_label(v, s) for v, s in zip(rows["variant"], rows["sae_sparsity"])]
    table = rows.assign(column=label).pivot_table(index=["eval", "item", "metric"], columns="column", values="value",
                                                  aggfunc="first", sort=False)
    table.columns.name = None
    return table.reset_index()
