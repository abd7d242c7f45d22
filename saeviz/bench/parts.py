"""The measurements behind `python -m saeviz bench`: each function times one thing users wait for and returns
its figures as a dict (seconds, ratios, agreement). Printing and choosing sizes is saeviz.bench.main's job."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from saeviz import embedded
from saeviz.compression.methods import compress_model
from saeviz.evals.measure import naive_downstream, reconstruction_stats
from saeviz.model.activations import collect_activations
from saeviz.pipeline.runner import evaluate
from saeviz.pipeline.sae_variants import pruned_sae
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.pipeline.workbench import Workbench
from saeviz.sae.load import load_sae_dir
from saeviz.sae.prune import prune_sae
from saeviz.sae.train import retrain_like
from saeviz.sae.variants import VariantSpec
from saeviz.specs import CompressSpec, EvalSpec, ModelSpec, SaePruneSpec, TrainSpec, site_hook
from saeviz.store.db import Store

AGREEMENT_METRICS = ("mse", "explained_variance", "cossim", "l0", "ce_loss_with_sae", "ce_loss_without_sae",
                     "ce_loss_with_ablation", "kl_div_with_sae", "ce_loss_score", "kl_div_score")


def fresh_bench(model=None):
    """A Workbench on the embedded default with an empty cache (in a temp folder that lives with the process)."""
    root = Path(tempfile.mkdtemp(prefix="saeviz-bench-"))
    return Workbench(ModelSpec(), Store(root), model=model)


def slider_latency(bench, comp: CompressSpec, site: str, layer: int, eval_spec: EvalSpec,
                   cold_values: list[float], warm_repeats: int) -> dict:
    """From a new SAE sparsity to its core metrics: cold (never computed; the model variant's clean run is warm,
    as it is once the page has shown the curve) and warm (read back from the cache)."""
    evaluate(bench, comp, VariantSpec("pretrained"), site, layer, "core", eval_spec)  # the page's first paint
    cold = []
    for s in cold_values:
        start = time.perf_counter()
        evaluate(bench, comp, VariantSpec("pruned", s), site, layer, "core", eval_spec)
        cold.append(time.perf_counter() - start)
    warm = []
    for i in range(warm_repeats):
        start = time.perf_counter()
        evaluate(bench, comp, VariantSpec("pruned", cold_values[i % len(cold_values)]), site, layer, "core", eval_spec)
        warm.append(time.perf_counter() - start)
    # another process (a second dashboard, the CLI) computed it: the rows come from the database

    other = Workbench(bench.model_spec, bench.store, model=bench.base_model)
    other.compressed(comp)
    from_db = []
    for i in range(warm_repeats):
        other.run_rows.clear()
        start = time.perf_counter()
        evaluate(other, comp, VariantSpec("pruned", cold_values[i % len(cold_values)]), site, layer, "core", eval_spec)
        from_db.append(time.perf_counter() - start)
    return {"cold_median_s": float(np.median(cold)), "cold_max_s": float(np.max(cold)),
            "warm_p50_s": float(np.percentile(warm, 50)), "warm_p95_s": float(np.percentile(warm, 95)),
            "db_p50_s": float(np.percentile(from_db, 50)), "db_p95_s": float(np.percentile(from_db, 95)),
            "n_cold": len(cold), "n_warm": len(warm)}


def our_sweep(bench, comp: CompressSpec, sites, layers, sparsities, eval_spec: EvalSpec) -> tuple[float, pd.DataFrame]:
    """The sweep through saeviz (cold: empty cache; model loaded): compression, activations, every point."""
    spec = SweepSpec(compression=comp, sites=tuple(sites), layers=tuple(layers), sae_sparsities=tuple(sparsities), eval=eval_spec)
    start = time.perf_counter()
    rows = run_sweep(bench, spec)
    return time.perf_counter() - start, rows


def cli_sweep_cold(comp: CompressSpec, sites, layers, sparsities, n_sequences: int) -> dict:
    """The same sweep as a new user runs it: `python -m saeviz sweep` in a fresh process on an empty cache
    (imports, model load, compression, every point, writing the cache), wall time and peak memory."""
    root = Path(tempfile.mkdtemp(prefix="saeviz-cli-"))
    argv = [sys.executable, "-m", "saeviz", "sweep", "--cache-dir", str(root), "--compression", comp.label(),
            "--sites", ",".join(sites), "--layers", ",".join(map(str, layers)),
            "--sae-sparsities", ",".join(map(str, sparsities)), "--eval-sequences", str(n_sequences)]
    code = ("import resource, runpy, sys, time; start = time.perf_counter(); sys.argv = ['saeviz', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('saeviz', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('SAEVIZ_CLI', time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *argv[3:]], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"the CLI sweep failed: {out.stderr[-2000:]}")
    _, inside, peak = out.stdout.strip().splitlines()[-1].split()
    return {"wall_s": wall, "in_process_s": float(inside), "peak_rss_mb": float(peak), "argv": " ".join(argv[1:])}


def naive_sweep(bench, comp: CompressSpec, sites, layers, sparsities, eval_spec: EvalSpec) -> tuple[float, pd.DataFrame]:
    """The paper scripts' way: for every sweep point, calibration activations, SAE pruning, evaluation
    activations and clean/spliced/ablated forward passes are all recomputed from the embedding."""
    start = time.perf_counter()
    model = bench.compressed(comp)  # compression itself is timed in the same way for both paths
    tokens, calib = bench.tokens("eval")[: eval_spec.n_sequences], bench.tokens("calibration")
    out = []
    for layer in layers:
        for site in sites:
            hook, sae = site_hook(site, layer), bench.pretrained_sae(site, layer)
            for s in sparsities:
                pruned = sae if s == 0 else prune_sae(sae, SaePruneSpec(sparsity=s), collect_activations(model, hook, calib)).sae
                metrics = reconstruction_stats(pruned, collect_activations(model, hook, tokens))
                metrics.update(naive_downstream(model, pruned, hook, tokens, eval_spec.batch_size))
                out += [{"site": site, "layer": layer, "sae_sparsity": s, "metric": k, "value": v} for k, v in metrics.items()]
    return time.perf_counter() - start, pd.DataFrame(out)


def agreement(ours: pd.DataFrame, naive: pd.DataFrame) -> float:
    """Largest relative difference between the two paths over the sweep points' shared metrics."""
    ours = ours[(ours["variant"] == "pruned") & ours["metric"].isin(AGREEMENT_METRICS)]
    merged = ours.merge(naive, on=["site", "layer", "sae_sparsity", "metric"], suffixes=("", "_naive"))
    if merged.empty:
        raise AssertionError("the two sweep paths share no points")
    rel = (merged["value"] - merged["value_naive"]).abs() / merged["value_naive"].abs().clip(lower=1e-6)
    return float(rel.max())


def prune_vs_retrain(bench, comp: CompressSpec, site: str, layer: int, sae_sparsity: float, train_tokens: int,
                     checkpoints: int, eval_spec: EvalSpec) -> dict:
    """Wall time to the pruned SAE against retraining until its MSE reaches the pruned one's (checkpoints
    along one run are evaluated; the time to a checkpoint is the run's time in proportion to its tokens)."""
    model, hook = bench.compressed(comp), site_hook(site, layer)
    acts = bench.activations(comp, hook, "eval", eval_spec.n_sequences)
    start = time.perf_counter()
    pruned = pruned_sae(bench, comp, site, layer, SaePruneSpec(sparsity=sae_sparsity))  # incl. calibration activations
    prune_s = time.perf_counter() - start
    target = reconstruction_stats(pruned, acts)["mse"]
    workdir = Path(tempfile.mkdtemp(prefix="saeviz-retrain-"))
    spec = TrainSpec(training_tokens=train_tokens, checkpoints=checkpoints)
    result = retrain_like(bench.pretrained_sae(site, layer), model, bench.tokens("train"), spec, workdir)
    reached = None
    for ckpt in sorted((workdir / "checkpoints").glob("*"), key=lambda p: json.loads((p / "stream.json").read_text())["samples"]):
        samples = json.loads((ckpt / "stream.json").read_text())["samples"]
        if reconstruction_stats(load_sae_dir(ckpt), acts)["mse"] <= target:
            reached = samples
            break
    final_mse = reconstruction_stats(result.sae, acts)["mse"]
    if reached is None and final_mse <= target:
        reached = train_tokens
    seconds_to_match = None if reached is None else result.seconds * reached / train_tokens
    return {"prune_s": prune_s, "pruned_mse": target, "retrain_s": result.seconds, "retrain_tokens": train_tokens,
            "retrained_mse": final_mse, "tokens_to_match": reached, "retrain_s_to_match": seconds_to_match,
            "ratio_to_match": None if seconds_to_match is None else seconds_to_match / prune_s,
            "ratio_full_budget": result.seconds / prune_s}


def _in_fresh_process(function: str, args: tuple, what: str) -> dict:
    """``function(*args)`` of this module run in a new Python process (so its peak RSS is its own); its dict."""
    code = f"import json; from saeviz.bench.parts import {function}; print(json.dumps({function}(*{args!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{what} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compress_in_subprocess(shape: str, method: str, n_calibration: int, seq_len: int) -> dict:
    """Calibration + compression time of ``method`` (wanda, sparsegpt, gptq) and the process's peak memory, in
    a fresh process."""
    return _in_fresh_process("compress_here", (shape, method, n_calibration, seq_len), f"compressing the {shape} model with {method}")


def gpt2_small_shaped(device: str = "cpu"):
    """A model of GPT-2 small's shape with random weights (no download)."""
    # lazy: transformer_lens takes seconds to import
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=12, d_model=768, d_head=64, n_heads=12, d_mlp=3072, d_vocab=50257, n_ctx=1024,
                                  act_fn="gelu_new", normalization_type="LN", seed=0, device=device)
    return HookedTransformer(cfg).eval()


def gemma2_2b_shaped(device: str = "cpu", n_layers: int = 26, d_vocab: int = 256000):
    """A model of Gemma-2-2B's shape and block layout (grouped-query attention, gated MLP, RMS norms before
    and after each sublayer, soft caps) with random weights (no download); smaller n_layers/d_vocab for tests."""
    # lazy: transformer_lens takes seconds to import
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=n_layers, d_model=2304, d_head=256, n_heads=8, n_key_value_heads=4, d_mlp=9216, d_vocab=d_vocab,
        n_ctx=8192, act_fn="gelu_pytorch_tanh", normalization_type="RMS", positional_embedding_type="rotary",
        rotary_base=10000, gated_mlp=True, final_rms=True, use_normalization_before_and_after=True,
        attn_scores_soft_cap=50.0, output_logits_soft_cap=30.0, original_architecture="Gemma2ForCausalLM",
        seed=0, device=device)
    return HookedTransformer(cfg).eval()


MODEL_SHAPES = {"gpt2-small-shaped": gpt2_small_shaped, "gemma-2-2b-shaped": gemma2_2b_shaped}
METHOD_SPECS = {"wanda": dict(method="wanda", sparsity=0.5), "sparsegpt": dict(method="sparsegpt", sparsity=0.5),
                "gptq": dict(method="gptq", bits=4, group_size=128)}


def compress_here(shape: str, method: str, n_calibration: int, seq_len: int) -> dict:
    # lazy: resource is Unix-only
    import resource

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if shape == "embedded":
        model = embedded.load_model().to(device)
        tokens = embedded.load_tokens("calibration")[:n_calibration].long()[:, :seq_len]
    else:
        model = MODEL_SHAPES[shape](device)
        tokens = torch.randint(0, model.cfg.d_vocab, (n_calibration, seq_len))
    params = sum(p.numel() for p in model.parameters())
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    compress_model(model, CompressSpec(**METHOD_SPECS[method], n_calibration=n_calibration), tokens)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out = {"shape": shape, "method": method, "parameters": params, "n_calibration": n_calibration, "seq_len": seq_len,
           "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "device": device}
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sweep_memory_in_subprocess(shape: str, n_sequences: int, d_sae: int) -> dict:
    """Peak memory of one sweep unit (the last layer's resid) in a fresh process."""
    return _in_fresh_process("sweep_memory_here", (shape, n_sequences, d_sae), f"the {shape} memory run")


def sweep_memory_here(shape: str, n_sequences: int, d_sae: int) -> dict:
    """One resid unit at the last layer (dense, pretrained, pruned 50%, PrunedBest, with CE/KL spliced in) of a
    random TopK SAE of width ``d_sae`` on a model of ``shape`` (gpt2-small-shaped: random weights; embedded),
    int8 RTN (no calibration pass, so that the sweep's own memory is what is measured), magnitude SAE pruning."""
    # lazy: resource is Unix-only; sae_lens takes seconds to import
    import resource

    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = embedded.load_model().to(device) if shape == "embedded" else MODEL_SHAPES[shape](device)
    layer = model.cfg.n_layers - 1
    root = Path(tempfile.mkdtemp(prefix="saeviz-memory-"))
    hook = site_hook("resid", layer)
    sae = TopKSAE(TopKSAEConfig(d_in=model.cfg.d_model, d_sae=d_sae, k=32,
                                metadata=SAEMetadata(hook_name=hook, model_name="gpt2-shaped", context_size=128, prepend_bos=True)))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(sae.W_enc.shape) / model.cfg.d_model ** 0.5)
        sae.W_dec.copy_(sae.W_enc.T)
    sae.save_model(root / "resid")
    del sae
    bench = Workbench(ModelSpec(), Store(root / "cache"), sae_template=str(root / "{site}"), model=model)
    bench.tokens("eval"), bench.pretrained_sae("resid", layer)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    before = _rss_mb()
    spec = SweepSpec(compression=CompressSpec(method="rtn", bits=8), sites=("resid",), layers=(layer,),
                     sae_sparsities=(0.0, 0.5), sae_prune_method="magnitude", eval=EvalSpec(n_sequences=n_sequences))
    start = time.perf_counter()
    run_sweep(bench, spec)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"shape": shape, "n_sequences": n_sequences, "tokens": n_sequences * bench.tokens("eval").shape[1], "d_sae": d_sae,
           "layer": layer, "seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak, "device": device}
    if device == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def scaling_tokens(bench, comp: CompressSpec, site: str, layer: int, sizes: list[int], sparsities) -> list[dict]:
    """Sweep time of one (site, layer) against the number of evaluation sequences (fresh cache keys per size)."""
    # warm-up at the smallest size on other sparsities: calibration activations and the model's pruning are
    # shared by every size and must not be counted in the first one
    our_sweep(bench, comp, [site], [layer], [min(s + 0.01, 0.99) for s in sparsities], EvalSpec(n_sequences=sizes[0]))
    out = []
    for n in sizes:
        seconds, _ = our_sweep(bench, comp, [site], [layer], sparsities, EvalSpec(n_sequences=n))
        out.append({"n_sequences": n, "seconds": seconds})
    return out


def scaling_width(model, comp: CompressSpec, layer: int, widths: list[int], sparsities, eval_spec: EvalSpec) -> list[dict]:
    """Sweep time of one resid unit against d_sae, with random TopK SAEs of each width (one process, model warm)."""
    # lazy: sae_lens takes seconds to import
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    out = []
    for width in widths:
        root = Path(tempfile.mkdtemp(prefix=f"saeviz-width{width}-"))
        hook = site_hook("resid", layer)
        sae = TopKSAE(TopKSAEConfig(d_in=model.cfg.d_model, d_sae=width, k=48,
                                    metadata=SAEMetadata(hook_name=hook, model_name="embedded", context_size=128, prepend_bos=True)))
        with torch.no_grad():
            gen = torch.Generator().manual_seed(width)
            sae.W_enc.copy_(torch.randn(sae.W_enc.shape, generator=gen) / model.cfg.d_model ** 0.5)
            sae.W_dec.copy_(sae.W_enc.T)
        sae.save_model(root / "resid")

        bench = Workbench(ModelSpec(), Store(root / "cache"), sae_template=str(root / "{site}"), model=model)
        bench.compressed(comp)  # compression is not what scales with d_sae
        seconds, _ = our_sweep(bench, comp, ["resid"], [layer], sparsities, eval_spec)
        out.append({"d_sae": width, "seconds": seconds})
    return out


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's rate on a bare float32 matmul (n x n x n), the best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
