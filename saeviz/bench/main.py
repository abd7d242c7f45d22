"""`python -m saeviz bench [--short] [--parts ...]`: every figure users wait for, measured side by side in one run.

Parts: slider (latency of a new per-layer SAE sparsity, cold and warm), sweep (the full SAE sweep through saeviz
against the naive path that reruns the model for every point, with their agreement), retrain (pruning vs retraining
to the same MSE), wanda (WANDA, SparseGPT and GPTQ time and peak memory, embedded, GPT-2-small-shaped and, on a GPU,
Gemma-2-2B-shaped), scaling
(sweep time against evaluation tokens and d_sae), memory (peak memory of a sweep unit on a GPT-2-small-shaped
model against tokens and d_sae), features (all latents' statistics and a latent's page). The
short mode (what CI runs) shrinks every size; it prints figures and asserts only that the two sweep paths agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from saeviz.specs import SITES, CompressSpec, EvalSpec, SaePruneSpec, site_hook

PARTS = ("slider", "sweep", "retrain", "wanda", "scaling", "memory", "features", "ray")
FULL = dict(layers=(0, 1, 2, 3), sites=SITES, sparsities=(0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99), n_seq=64,
            train_tokens=1_000_000, checkpoints=8, wanda_calib=128, gpt2_calib=(8, 16), second_order=("sparsegpt", "gptq"),
            token_sizes=(16, 32, 64), widths=(1024, 4096, 16384), cold=(0.33, 0.41, 0.57, 0.66, 0.83), warm=40,
            memory=(("gpt2-small-shaped", 4, 12288), ("gpt2-small-shaped", 8, 12288), ("gpt2-small-shaped", 4, 6144)), noop_units=2000)
SHORT = dict(layers=(1,), sites=("resid",), sparsities=(0.0, 0.5, 0.9), n_seq=4, train_tokens=16_384,
             checkpoints=4, wanda_calib=8, gpt2_calib=(), second_order=(), token_sizes=(2, 4), widths=(256, 512), cold=(0.33, 0.57), warm=10,
             memory=(("embedded", 2, 2048),), noop_units=200)


def _line(name: str, value: str) -> None:
    print(f"  {name:<52s} {value}")


def run_slider(sz, comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.parts import fresh_bench, slider_latency

    bench = fresh_bench()
    bench.compressed(comp)
    got = slider_latency(bench, comp, "resid", sz["layers"][-1], EvalSpec(n_sequences=sz["n_seq"]), list(sz["cold"]), sz["warm"])
    print("slider: a per-layer SAE sparsity not in the grid -> core metrics of that (site, layer)")
    _line("cold (computed: prune + reconstruction + CE/KL), median / max", f"{got['cold_median_s']:.3f} s / {got['cold_max_s']:.3f} s")
    _line("warm (this process computed it), p50 / p95", f"{got['warm_p50_s'] * 1e3:.1f} ms / {got['warm_p95_s'] * 1e3:.1f} ms")
    _line("warm (read from the database), p50 / p95", f"{got['db_p50_s'] * 1e3:.1f} ms / {got['db_p95_s'] * 1e3:.1f} ms")
    return got


def run_sweep(sz, comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.floor import FloorCounts, sweep_floor
    from saeviz.bench.parts import agreement, cli_sweep_cold, fresh_bench, naive_sweep, our_sweep

    args = (comp, sz["sites"], sz["layers"], sz["sparsities"], EvalSpec(n_sequences=sz["n_seq"]))
    ours_bench = fresh_bench()
    ours_bench.base_model, ours_bench.tokens("eval"), ours_bench.tokens("calibration")  # loading is not the sweep
    ours_s, ours = our_sweep(ours_bench, *args)
    naive_bench = fresh_bench(model=ours_bench.base_model)
    naive_s, naive = naive_sweep(naive_bench, *args)
    worst = agreement(ours, naive)
    points = len(sz["sites"]) * len(sz["layers"]) * len(sz["sparsities"])
    print(f"sweep: {points} points ({len(sz['sparsities'])} SAE sparsities x {len(sz['layers'])} layers x {len(sz['sites'])} sites), "
          f"{sz['n_seq']} evaluation sequences, cold cache, model loaded")
    _line("saeviz (compression + dense/pretrained/pruned/PrunedBest)", f"{ours_s:.1f} s")
    _line("naive (model rerun for every point, as the paper's scripts)", f"{naive_s:.1f} s")
    _line("speed-up", f"{naive_s / ours_s:.1f}x")
    _line("largest relative difference between the two", f"{worst:.2e}")
    hook = site_hook(sz["sites"][0], sz["layers"][0])
    calibration = ours_bench.activations(comp, hook, "calibration", ours_bench.tokens("calibration").shape[0])
    counts = FloorCounts.of_sweep(sz["sparsities"], min(calibration.shape[0], SaePruneSpec().n_calibration_tokens))
    floor = sweep_floor(ours_bench.compressed(comp), {(site, layer): ours_bench.pretrained_sae(site, layer)
                                                       for site in sz["sites"] for layer in sz["layers"]},
                        ours_bench.tokens("eval")[: sz["n_seq"]].long(), counts)
    _line(f"floor: per unit {counts.sae_points} SAEs, {counts.spliced_runs} spliced runs, {counts.pruned} pruning encodes",
          f"{floor['total_s']:.1f} s")
    _line("  SAE encode/decode (evaluation tokens)", f"{floor['sae_s']:.1f} s")
    _line("  blocks after the hook", f"{floor['after_hook_s']:.1f} s")
    _line("  unembedding + log-sum-exp", f"{floor['unembed_s']:.1f} s")
    _line(f"  WANDA's pruned-encoder latents ({counts.calibration_tokens:,} calibration tokens)", f"{floor['prune_encode_s']:.1f} s")
    _line("saeviz / floor (target 1.3x)", f"{ours_s / floor['total_s']:.2f}x")
    without = floor["total_s"] - floor["prune_encode_s"]
    _line("  (against the floor without WANDA's pruned-encoder latents)", f"{ours_s / without:.2f}x of {without:.1f} s")
    cli = cli_sweep_cold(comp, sz["sites"], sz["layers"], sz["sparsities"], sz["n_seq"])
    _line("CLI sweep, cold (new process, empty cache), wall", f"{cli['wall_s']:.1f} s, peak RSS {cli['peak_rss_mb']:.0f} MB")
    _line("CLI cold / floor (target 1.5x)", f"{cli['wall_s'] / floor['total_s']:.2f}x")
    if worst > 1e-4:
        raise AssertionError(f"the sweep paths disagree: relative difference {worst:.2e} > 1e-4")
    return {"ours_s": ours_s, "naive_s": naive_s, "speedup": naive_s / ours_s, "max_rel_diff": worst, "points": points,
            "floor_s": floor["total_s"], "floor_ratio": ours_s / floor["total_s"], "floor_parts": floor,
            "floor_counts": vars(counts), "cli": cli, "cli_floor_ratio": cli["wall_s"] / floor["total_s"]}


def run_retrain(sz, comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.parts import fresh_bench, prune_vs_retrain

    got = prune_vs_retrain(fresh_bench(), comp, "resid", sz["layers"][-1], 0.25, sz["train_tokens"], sz["checkpoints"],
                           EvalSpec(n_sequences=sz["n_seq"]))
    print(f"prune vs retrain: resid layer {sz['layers'][-1]}, SAE pruned 25% (WANDA) vs retrained from scratch")
    _line("prune (incl. calibration activations)", f"{got['prune_s']:.2f} s, MSE {got['pruned_mse']:.4f}")
    _line(f"retrain ({got['retrain_tokens']:,} tokens)", f"{got['retrain_s']:.1f} s, MSE {got['retrained_mse']:.4f}")
    if got["tokens_to_match"] is None:
        _line("retraining reaches the pruned MSE", f"not within {got['retrain_tokens']:,} tokens "
                                                      f"(full budget: {got['ratio_full_budget']:.0f}x the pruning time)")
    else:
        _line("retraining reaches the pruned MSE after", f"{got['tokens_to_match']:,} tokens, {got['retrain_s_to_match']:.1f} s: "
                                                         f"{got['ratio_to_match']:.0f}x the pruning time")
    return got


def run_wanda(sz, _comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.parts import compress_in_subprocess

    print("WANDA 50%, SparseGPT 50%, GPTQ int4 (layer-sequential calibration + compression), fresh process each")
    runs = [("embedded", "wanda", sz["wanda_calib"])] + [("gpt2-small-shaped", "wanda", n) for n in sz["gpt2_calib"]]
    runs += [("gpt2-small-shaped", m, sz["gpt2_calib"][-1]) for m in sz["second_order"]]
    if torch.cuda.is_available() and sz["gpt2_calib"]:  # 2.6 B parameters: a GPU's work (about 10 GB of float32 weights)
        runs += [("gemma-2-2b-shaped", m, sz["gpt2_calib"][-1]) for m in ("wanda", *sz["second_order"])]
    out = {}
    for shape, method, n in runs:
        got = compress_in_subprocess(shape, method, n, 128)
        cuda = f", CUDA peak {got['cuda_peak_mb']:.0f} MB ({got['gpu']})" if "cuda_peak_mb" in got else ""
        _line(f"{method}: {shape} ({got['parameters'] / 1e6:.1f} M params, {n} x 128 tokens, {got['device']})",
              f"{got['seconds']:.1f} s, peak RSS {got['peak_rss_mb']:.0f} MB{cuda}")
        name = shape if method == "wanda" and (shape == "embedded" or n == max(sz["gpt2_calib"])) else f"{shape}-{method}-{n}"
        out[name] = got
    return out


def run_scaling(sz, comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.parts import fresh_bench, scaling_tokens, scaling_width

    bench = fresh_bench()
    bench.compressed(comp)
    layer, sparsities = sz["layers"][-1], sz["sparsities"]
    by_tokens = scaling_tokens(bench, comp, "resid", layer, list(sz["token_sizes"]), sparsities)
    by_width = scaling_width(bench.base_model, comp, layer, list(sz["widths"]), sparsities, EvalSpec(n_sequences=sz["n_seq"]))
    print(f"scaling: one resid unit, {len(sparsities)} SAE sparsities")
    for row in by_tokens:
        _line(f"{row['n_sequences']} evaluation sequences", f"{row['seconds']:.2f} s ({row['seconds'] / row['n_sequences']:.3f} s per sequence)")
    for row in by_width:
        _line(f"d_sae {row['d_sae']:,} (random TopK SAE)", f"{row['seconds']:.2f} s")
    return {"tokens": by_tokens, "width": by_width}


def run_memory(sz, _comp) -> dict:
    # lazy: saeviz.bench.parts pulls in numpy, pandas, which importing saeviz.bench.main does without
    from saeviz.bench.parts import sweep_memory_in_subprocess

    print("memory: one resid unit of the sweep (last layer, int8 RTN, random TopK SAE), fresh process each")
    out = []
    for shape, n_seq, d_sae in sz["memory"]:
        got = sweep_memory_in_subprocess(shape, n_seq, d_sae)
        cuda = f", CUDA peak {got['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in got else ""
        _line(f"{shape}: {got['tokens']:,} evaluation tokens, d_sae {d_sae:,} ({got['device']})",
              f"peak RSS {got['peak_rss_mb']:.0f} MB ({got['peak_rss_mb'] - got['rss_before_mb']:+.0f} MB over the loaded model "
              f"and SAE){cuda}, {got['seconds']:.1f} s")
        out.append(got)
    return {"runs": out}


def run_features(sz, comp) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/ lives beside the package
    # lazy: benchmarks/ is on sys.path only from a checkout (set just above)
    from benchmarks.feature_stats import format_figure, measure

    got = measure(short=sz is SHORT)
    print("feature statistics (all latents of one SAE) and opening one latent")
    for name, value in got.items():
        _line(name, format_figure(name, value))
    return got


RUNNERS = {"slider": run_slider, "sweep": run_sweep, "retrain": run_retrain, "wanda": run_wanda, "scaling": run_scaling,
           "memory": run_memory, "features": run_features}  # ray: run_ray, which takes the cluster's address


def run_ray(sz, comp, address: str | None = None) -> dict:
    # lazy: ray and the cluster package load only for this part
    from dataclasses import asdict

    from saeviz.bench.cluster import ray_against_in_process, study_plan, sweep_unit_flops
    from saeviz.bench.parts import fresh_bench, matmul_gflops

    got = ray_against_in_process(comp, sz["sites"], sz["layers"], sz["sparsities"], sz["n_seq"], address, sz["noop_units"])
    print(f"ray: the same sweep in this process and on Ray ({address or 'a local Ray'}, one worker with this process's "
          f"{torch.get_num_threads()} threads), cold caches")
    _line("in this process", f"{got.in_process_s:.1f} s")
    _line(f"on Ray ({got.units} units; worker start, model load, rows shipped)", f"{got.ray_s:.1f} s "
          f"(+ {got.ray_start_s:.1f} s starting Ray)")
    _line("Ray / in-process (target 1.2x)", f"{got.ray_s / got.in_process_s:.2f}x, "
                                            f"{(got.ray_s + got.ray_start_s) / got.in_process_s:.2f}x with the start")
    _line("second sweep (other SAE sparsities): warm worker / in-process", f"{got.warm_s:.1f} s / {got.warm_in_process_s:.1f} s "
                                                                            f"= {got.warm_s / max(got.warm_in_process_s, 1e-9):.2f}x")
    _line("rows identical to the in-process sweep", "yes" if got.identical else "NO")
    _line(f"trivial units through Ray ({sz['noop_units']}, one worker per CPU)", f"{got.noop_units_per_s:.0f} units/s")
    cfg = fresh_bench().base_model.cfg
    n_units = len(sz["sites"]) * len(sz["layers"])
    emb = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, d_mlp=cfg.d_mlp, n_heads=cfg.n_heads, n_kv_heads=cfg.n_heads,
               d_head=cfg.d_head, d_vocab=cfg.d_vocab, seq_len=cfg.n_ctx, gated=False)
    d_sae = fresh_bench().pretrained_sae(sz["sites"][0], sz["layers"][0]).cfg.d_sae
    unit_flops = sweep_unit_flops({**emb, "d_sae": d_sae}, sz["n_seq"] * cfg.n_ctx, len(sz["sparsities"]) + 2,
                                  len(sz["sparsities"]) + 3)
    plan = study_plan(got.in_process_s / n_units, unit_flops, matmul_gflops(), gpus=(1, 8, 64))
    print(f"  planned: the paper's Gemma-2-2B study ({plan['units']:,} units; per-unit time scaled from the embedded unit "
          f"by FLOPs, at {plan['gpu_tflops']:.0f} TFLOP/s per GPU x this sweep's efficiency {plan['efficiency']:.0%})")
    for stage in plan["stages"]:
        _line(f"  {stage['stage']}: {stage['units']:,} units", f"{stage['gpu_s_per_unit']:.1f} GPU-s each")
    _line("  total", f"{plan['gpu_hours']:.1f} GPU-hours; wall " + ", ".join(f"{h:.2f} h on {n}" for n, h in plan["wall_h"].items()))
    if not got.identical:
        raise AssertionError("rows computed on Ray differ from the in-process sweep")
    return {**asdict(got), "ratio": got.ray_s / got.in_process_s, "study": plan, "embedded_unit_flops": unit_flops}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m saeviz bench", description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="Small sizes (what CI runs): figures printed, no timing asserts.")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"Comma-separated parts out of {', '.join(PARTS)}.")
    ap.add_argument("--json", default=None, help="Also write every figure to this JSON file.")
    ap.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="The ray part on this cluster ('auto' or HOST:PORT, or SAEVIZ_RAY_ADDRESS; default a local Ray).")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"Unknown benchmark parts {unknown}: choose from {', '.join(PARTS)}.")
    sz, comp = (SHORT if args.short else FULL), CompressSpec(method="wanda", sparsity=0.5)
    print(f"saeviz bench ({'short' if args.short else 'full'}) on {platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}")
    figures, start = {}, time.perf_counter()
    for part in parts:
        part_start = time.perf_counter()
        figures[part] = run_ray(sz, comp, args.ray or os.environ.get("SAEVIZ_RAY_ADDRESS")) if part == "ray" else RUNNERS[part](sz, comp)
        print(f"  ({part}: {time.perf_counter() - part_start:.0f} s)")
    print(f"all parts: {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1, default=str)
    return 0
