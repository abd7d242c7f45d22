"""argparse options <-> spec dataclasses, so every command builds the same specs the dashboard does."""

from __future__ import annotations

import argparse
import dataclasses
import os

from saeviz.specs import (
    CHECKPOINT,
    DEFAULT_SAE_SWEEP,
    EMBEDDED_SAE_TEMPLATE,
    PRUNABLE_MATRICES,
    SITES,
    BestRule,
    CompressSpec,
    EvalSpec,
    ModelSpec,
    TrainSpec,
    spec_help,
)


def fraction(text: str) -> float:
    """'0.25' or '25%' (the dashboard shows percent, the specs hold fractions)."""
    t = text.strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write a fraction (0.25) or a percentage (25%)") from None


def _floats(text: str) -> tuple[float, ...]:
    return tuple(fraction(v) for v in text.split(",") if v.strip())


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write whole numbers, comma-separated, e.g. 0,2") from None


def sites(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [n for n in names if n not in SITES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose sites from {', '.join(SITES)}, comma-separated")
    return names


def _layer_map(text: str) -> dict[int, float]:
    try:
        return {int(k): float(v) for k, v in (item.split("=") for item in text.split(",") if item.strip())}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write per-layer sparsities as LAYER=FRACTION,... e.g. 0=0.3,3=0.6") from None


def _n_m(text: str) -> tuple[int, int]:
    try:
        n, m = (int(v) for v in text.split(":"))
        return n, m
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write N:M, e.g. 2:4") from None


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and data")
    g.add_argument("--model", default="embedded", help=spec_help(ModelSpec, "name"))
    g.add_argument("--device", default="auto", help=spec_help(ModelSpec, "device"))
    g.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"), help=spec_help(ModelSpec, "dtype"))
    g.add_argument("--tokens", default="embedded", help="Token sets: 'embedded' or a folder built by `python -m saeviz tokens`.")
    g.add_argument("--sae-template", default=EMBEDDED_SAE_TEMPLATE,
                   help="Pretrained SAE per site and layer, e.g. 'gpt2-small-resid-post-v5-32k/blocks.{layer}.hook_resid_post'.")
    g.add_argument("--cache-dir", default=None, help="Cache folder (default: $SAEVIZ_CACHE_DIR or ./cache).")


def add_compress_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model compression")
    g.add_argument("--compression", default=None,
                   help="The whole compression as one word (overrides --method and friends): dense, wanda-50%%, "
                        "sparsegpt-50%%, magnitude-30%%, wanda-2:4, sparsegpt-2:4, rtn-int4, rtn-int4-g128-asym, gptq-int4-g128, "
                        "gptq-int4-g128-asym-act.")
    g.add_argument("--method", default="wanda", help=spec_help(CompressSpec, "method"))
    # None when not given, so that an N:M pattern can tell a contradicting --sparsity from the default
    g.add_argument("--sparsity", type=fraction, default=None, help=spec_help(CompressSpec, "sparsity"))
    g.add_argument("--layer-sparsity", type=_layer_map, default={}, help="Per-layer sparsity, LAYER=FRACTION,...")
    g.add_argument("--matrices", default=",".join(PRUNABLE_MATRICES), help=spec_help(CompressSpec, "matrices"))
    g.add_argument("--n-m", type=_n_m, default=None, help=spec_help(CompressSpec, "n_m"))
    g.add_argument("--n-calibration", type=int, default=128, help=spec_help(CompressSpec, "n_calibration"))
    g.add_argument("--not-sequential", action="store_true", help="Calibrate every layer on the dense model's inputs.")
    g.add_argument("--bits", type=int, default=8, help=spec_help(CompressSpec, "bits"))
    g.add_argument("--group-size", type=int, default=128, help=spec_help(CompressSpec, "group_size"))
    g.add_argument("--asymmetric", action="store_true", help="Asymmetric (zero-point) quantization.")
    g.add_argument("--act-order", action="store_true", help=spec_help(CompressSpec, "act_order"))
    g.add_argument("--damping", type=fraction, default=0.01, help=spec_help(CompressSpec, "damping"))


def add_eval_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-sequences", type=int, default=64, help=spec_help(EvalSpec, "n_sequences"))
    g.add_argument("--no-downstream", action="store_true", help="Skip CE/KL with the SAE spliced in (faster).")


def add_train_options(p: argparse.ArgumentParser, default_tokens: int) -> None:
    g = p.add_argument_group("SAE retraining")
    g.add_argument("--train-tokens", type=int, default=default_tokens, help=spec_help(TrainSpec, "training_tokens") + " 0 skips retraining.")
    g.add_argument("--train-lr", type=float, default=3e-4, help=spec_help(TrainSpec, "lr"))
    g.add_argument("--train-batch", type=int, default=2048, help=spec_help(TrainSpec, "batch_size_tokens"))


def add_sweep_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SAE sweep")
    g.add_argument("--sites", default=None, help="Comma-separated sites: attn, mlp, resid (default: every site the "
                                                 "SAE template covers).")
    g.add_argument("--layers", type=ints, default=(), help="Comma-separated layers (default: all).")
    g.add_argument("--sae-sparsities", type=_floats, default=DEFAULT_SAE_SWEEP, help="Comma-separated SAE sparsities (0.25 or 25%%).")
    g.add_argument("--sae-method", default="wanda", help="SAE pruning method: wanda or magnitude.")
    g.add_argument("--tolerance", type=fraction, default=0.10, help=spec_help(BestRule, "tolerance"))
    g.add_argument("--pick", default="largest", help=spec_help(BestRule, "pick"))


def add_ray_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="Run the units on Ray: alone, SAEVIZ_RAY_ADDRESS's cluster if set, else a local Ray on this "
                        "machine ('local'); 'auto' or HOST:PORT, a cluster started with `ray start`. The driver writes the cache; workers keep "
                        "their models loaded between units.")
    g.add_argument("--cpus-per-unit", type=float, default=1.0, help="With --ray: CPUs each unit reserves.")
    g.add_argument("--gpus-per-unit", type=float, default=0.0, help="With --ray: GPUs each unit reserves (1: a unit per GPU).")
    g.add_argument("--ray-shared-cache", action="store_true",
                   help="With --ray: every node sees the cache folder at this same path (a shared disk); workers read "
                        "trained SAEs, activations and compressed weights from it instead of receiving or recomputing them.")


def ray_options(args):
    """RayOptions when --ray (or SAEVIZ_RAY_ADDRESS) asks for a cluster, else None (the in-process path)."""
    flag, env = getattr(args, "ray", None), os.environ.get("SAEVIZ_RAY_ADDRESS")
    if flag is None and not env:
        return None
    address = flag or env or "local"  # a bare --ray takes the variable's cluster, else a local Ray
    # lazy: the cluster package pulls in the pipeline (torch), which building the parser does without
    from saeviz.cluster.ray_runner import RayOptions

    return RayOptions(address=address, cpus_per_unit=args.cpus_per_unit, gpus_per_unit=args.gpus_per_unit,
                      shared_cache=args.ray_shared_cache)


def run_on_ray(args, bench, stages, desc: str) -> bool:
    """Compute the stages' missing units on Ray when the command asks for it; the command then reads every
    result from the cache as if it had computed it here. False when it runs in-process."""
    options = ray_options(args)
    if options is None:
        return False
    # lazy: ray loads only with --ray
    from saeviz.cluster.ray_runner import run_units
    from saeviz.jobs import tqdm_progress

    run_units(bench, stages(), options, progress=tqdm_progress(f"{desc} units on Ray"))
    return True


def compress_spec(args) -> CompressSpec:
    if getattr(args, "compression", None):
        spec = CompressSpec.parse(args.compression)
        if spec.method in ("dense", CHECKPOINT):
            return spec
        # the word names the method and its amount; how it calibrates comes from the flags, as without a word
        return dataclasses.replace(spec, n_calibration=args.n_calibration, sequential=not args.not_sequential,
                                   damping=args.damping)
    return CompressSpec(
        method=args.method, sparsity=args.sparsity, layer_sparsity=args.layer_sparsity,
        matrices=tuple(m.strip() for m in args.matrices.split(",") if m.strip()), n_m=args.n_m,
        n_calibration=args.n_calibration, sequential=not args.not_sequential, bits=args.bits,
        group_size=args.group_size, symmetric=not args.asymmetric, act_order=args.act_order, damping=args.damping,
    )


def eval_spec(args) -> EvalSpec:
    return EvalSpec(n_sequences=args.eval_sequences, downstream=not args.no_downstream)


def train_spec(args) -> TrainSpec | None:
    if args.train_tokens <= 0:
        return None
    return TrainSpec(training_tokens=args.train_tokens, lr=args.train_lr, batch_size_tokens=args.train_batch)


def workbench(args):
    # lazy: saeviz.pipeline.workbench pulls in pandas, torch, which importing saeviz.cli.options does without
    from saeviz.pipeline.workbench import Workbench
    from saeviz.store.db import Store

    return Workbench(ModelSpec(name=args.model, device=args.device, dtype=args.dtype), Store(args.cache_dir),
                     tokens_source=args.tokens, sae_template=args.sae_template)
