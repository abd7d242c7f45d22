"""Ray against the in-process path on the same sweep, Ray's cost per trivial unit, and the paper's Gemma-2-2B
study planned from those figures."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from saeviz.bench.parts import fresh_bench
from saeviz.cluster import plans
from saeviz.cluster.ray_runner import RayOptions, connect, noop_rate, release, run_units
from saeviz.pipeline.sweep import SweepSpec, run_sweep
from saeviz.specs import EvalSpec

# The paper's study on Gemma-2-2B (Gemma Scope 16k SAEs), as units: every (site, layer) under each compression.
GEMMA = dict(n_layers=26, d_model=2304, d_mlp=9216, n_heads=8, n_kv_heads=4, d_head=256, d_vocab=256_000, d_sae=16_384,
             seq_len=1024)
STUDY_COMPRESSIONS = ("wanda-50%", "wanda-2:4", "gptq-int4-g128")
STUDY_SWEEP = 12  # SAE sparsities per (site, layer)
STUDY_EVALS = ("absorption", "ravel", "scr", "tpp")
STUDY_EVAL_VARIANTS = 4  # pretrained, PrunedBest, retrained, dense reference
GPU_TFLOPS = 150.0  # assumed sustained bf16 throughput of one H100 on these matmuls (about 15% of its dense peak)


def forward_flops_per_token(n_layers, d_model, d_mlp, n_heads, n_kv_heads, d_head, d_vocab, seq_len, gated=True, **_):
    """Multiply-adds x 2 of one token through the model: attention projections, scores, MLP, unembedding."""
    attn = 2 * d_model * d_head * (2 * n_heads + 2 * n_kv_heads) + 2 * 2 * seq_len / 2 * n_heads * d_head
    mlp = 2 * d_model * d_mlp * (3 if gated else 2)
    return n_layers * (attn + mlp) + 2 * d_model * d_vocab


def sweep_unit_flops(cfg: dict, n_tokens: int, n_points: int, n_spliced: int, layer_fraction: float = 0.5) -> float:
    """One (site, layer) of a sweep: SAE encode/decode per point, the blocks after the hook and the unembedding
    per spliced run (the middle layer on average)."""
    per_token = forward_flops_per_token(**cfg)
    unembed = 2 * cfg["d_model"] * cfg["d_vocab"]
    blocks = (per_token - unembed) * layer_fraction
    sae = 2 * 2 * cfg["d_model"] * cfg["d_sae"]
    return n_tokens * (n_points * sae + n_spliced * (blocks + unembed))


@dataclass
class RayFigures:
    in_process_s: float
    ray_s: float
    ray_start_s: float
    warm_s: float
    warm_in_process_s: float
    units: int
    noop_units_per_s: float
    identical: bool


def _sweep(sites, layers, sparsities, n_seq, comp) -> SweepSpec:
    return SweepSpec(compression=comp, sites=tuple(sites), layers=tuple(layers), sae_sparsities=tuple(sparsities),
                     eval=EvalSpec(n_sequences=n_seq))


def ray_against_in_process(comp, sites, layers, sparsities, n_seq: int, address: str | None, noop_units: int) -> RayFigures:
    """The same sweep cold in this process and on Ray (one worker with this process's CPUs and threads, so the
    difference is Ray's: starting, a worker loading its own model and data, shipping the rows), then a second
    sweep (other SAE sparsities) on the warm worker against the same in this process."""
    spec = _sweep(sites, layers, sparsities, n_seq, comp)
    warm_spec = _sweep(sites, layers, tuple(round(s / 2, 4) for s in sparsities), n_seq, comp)
    threads = torch.get_num_threads()

    here = fresh_bench()
    start = time.perf_counter()
    ours = run_sweep(here, spec)
    in_process_s = time.perf_counter() - start
    start = time.perf_counter()
    run_sweep(here, warm_spec)
    warm_in_process_s = time.perf_counter() - start

    release()
    start = time.perf_counter()
    connect(address)
    ray_start_s = time.perf_counter() - start
    options = RayOptions(address=address, cpus_per_unit=threads, workers=1, torch_threads=threads)
    driver = fresh_bench()
    start = time.perf_counter()
    units = run_units(driver, plans.sweep_stages(driver, spec, threads), options)
    got = run_sweep(driver, spec)
    ray_s = time.perf_counter() - start
    start = time.perf_counter()
    run_units(driver, plans.sweep_stages(driver, warm_spec, threads), options)
    run_sweep(driver, warm_spec)
    warm_s = time.perf_counter() - start
    key = ["run_key", "item", "metric"]
    a, b = ours.sort_values(key).reset_index(drop=True), got.sort_values(key).reset_index(drop=True)
    identical = a[key].equals(b[key]) and a["value"].fillna(-9.0).tolist() == b["value"].fillna(-9.0).tolist()
    release()
    rate = noop_rate(noop_units, RayOptions(address=address, cpus_per_unit=1))
    release()
    return RayFigures(in_process_s, ray_s, ray_start_s, warm_s, warm_in_process_s, units, rate, identical)


def study_plan(embedded_unit_s: float, embedded_unit_flops: float, cpu_gflops: float, gpus=(1, 8, 64)) -> dict:
    """The paper's Gemma-2-2B study as units, each unit's GPU time scaled from the embedded unit's measured
    time by FLOPs and by this machine's matmul rate against an H100's (GPU_TFLOPS), and the wall time on
    1, 8 and 64 GPUs (stage by stage: retraining before the evaluations that read it)."""
    tokens = 64 * GEMMA["seq_len"]
    gemma_flops = sweep_unit_flops(GEMMA, tokens, 1 + STUDY_SWEEP + 2, STUDY_SWEEP + 5)
    # the embedded unit took embedded_unit_s at an efficiency of (its FLOPs / s) / (bare matmul rate)
    efficiency = (embedded_unit_flops / embedded_unit_s) / (cpu_gflops * 1e9)
    sweep_gpu_s = gemma_flops / (GPU_TFLOPS * 1e12 * efficiency)
    n_site_layers = GEMMA["n_layers"] * 3 * len(STUDY_COMPRESSIONS)
    # retraining: 1M tokens of activations (the model up to the layer) and SAE steps (forward + backward, 3x)
    train_flops = 1_000_000 * (forward_flops_per_token(**GEMMA) * 0.5 + 3 * 2 * 2 * GEMMA["d_model"] * GEMMA["d_sae"])
    train_gpu_s = train_flops / (GPU_TFLOPS * 1e12 * efficiency)
    n_evals = GEMMA["n_layers"] * 2 * len(STUDY_EVALS) * STUDY_EVAL_VARIANTS * len(STUDY_COMPRESSIONS)
    eval_gpu_s = sweep_gpu_s / (STUDY_SWEEP + 5)  # about one spliced pass over the evaluation's data each
    stages = [("retraining", n_site_layers, train_gpu_s), ("sweeps", n_site_layers + len(STUDY_COMPRESSIONS), sweep_gpu_s),
              ("evaluations", n_evals, eval_gpu_s)]
    wall = {n: sum(math.ceil(count / n) * unit_s for _, count, unit_s in stages) for n in gpus}
    return {"stages": [{"stage": s, "units": c, "gpu_s_per_unit": u} for s, c, u in stages],
            "units": sum(c for _, c, _ in stages), "gpu_hours": sum(c * u for _, c, u in stages) / 3600,
            "wall_h": {n: w / 3600 for n, w in wall.items()}, "efficiency": efficiency, "gpu_tflops": GPU_TFLOPS}
