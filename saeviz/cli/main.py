"""`python -m saeviz <command>`: the same specs and functions as the dashboard, headless."""

from __future__ import annotations

import argparse
import os
import sys

from saeviz.cli import options as o
from saeviz.cli.features import add_features_command
from saeviz.cli.tokens import add_tokens_command
from saeviz.errors import SaevizError
from saeviz.pipeline.info import environment_report, loaded_report
from saeviz.specs import SITES


def _cmd_info(args) -> int:
    if args.model or args.sae:
        report, unfit = loaded_report(args.model or "embedded", args.sae or [], device=args.device)  # errors first
        print(environment_report())
        print(report)
        for reason in unfit:
            print(f"error: {reason}", file=sys.stderr)
        return 2 if unfit else 0
    print(environment_report())
    return 0


def _cmd_build_embedded(args) -> int:
    # lazy: saeviz.embedded_build.build pulls in pandas, torch, which importing saeviz.cli.main does without
    from saeviz.embedded_build import build

    return build.main(args.rest)


def _cmd_embedded_report(args) -> int:
    # lazy: saeviz.embedded_build.report pulls in pandas, torch, which importing saeviz.cli.main does without
    from saeviz.embedded_build import report

    return report.main(args.rest) or 0


def _cmd_bench(args) -> int:
    # lazy: saeviz.bench.main pulls in torch, which importing saeviz.cli.main does without
    from saeviz.bench import main as benchmark

    return benchmark.main(args.rest)


def _add_engine_commands(sub) -> None:
    # lazy: saeviz.cli.commands pulls in pandas, which importing saeviz.cli.main does without
    from saeviz.cli import commands as c

    compress = sub.add_parser("compress", help="Compress the model; print achieved sparsity per matrix and CE vs dense.")
    o.add_model_options(compress), o.add_compress_options(compress), o.add_eval_options(compress)
    compress.set_defaults(func=c.cmd_compress)

    for name, func, text in (("prune-sae", c.cmd_prune_sae, "Prune one pretrained SAE; compare it with the unpruned one."),
                             ("train-sae", c.cmd_train_sae, "Retrain one SAE on the compressed model (resumable).")):
        cmd = sub.add_parser(name, help=text)
        o.add_model_options(cmd), o.add_compress_options(cmd), o.add_eval_options(cmd)
        if name == "prune-sae":
            cmd.add_argument("--site", required=True, choices=SITES)
            cmd.add_argument("--layer", required=True, type=int)
            cmd.add_argument("--out", help="Also save the resulting SAE to this folder (sae_lens format).")
            cmd.add_argument("--sae-sparsity", type=o.fraction, default=0.25)
            cmd.add_argument("--sae-method", default="wanda")
        else:  # several (site, layer) at once: each is a unit on Ray
            cmd.add_argument("--site", required=True, type=o.sites, help="A site (attn, mlp, resid) or several, comma-separated.")
            cmd.add_argument("--layer", required=True, type=o.ints, help="A layer or several, comma-separated (every site at each).")
            cmd.add_argument("--out", help="Also save the resulting SAE to this folder (sae_lens format; with several, "
                                           "one subfolder SITE_LAYER each).")
            o.add_train_options(cmd, default_tokens=1_000_000)
            o.add_ray_options(cmd)
        cmd.set_defaults(func=func)

    export = sub.add_parser("export-hf", help="Write the model (or a compressed variant of it) as a Hugging Face checkpoint.")
    export.add_argument("out", help="Directory to write (config.json, model.safetensors, the tokenizer).")
    o.add_model_options(export), o.add_compress_options(export)
    export.set_defaults(func=c.cmd_export_hf, method="dense")

    sweep = sub.add_parser("sweep", help="Layers x sites x SAE sparsities x variants on a compressed model (resumable).")
    o.add_model_options(sweep), o.add_compress_options(sweep), o.add_eval_options(sweep)
    o.add_sweep_options(sweep), o.add_train_options(sweep, default_tokens=0), o.add_ray_options(sweep)
    sweep.add_argument("--export", help="Write the computed rows to a .csv or .parquet file.")
    sweep.set_defaults(func=c.cmd_sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m saeviz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="Versions, device, embedded assets, cache; with --model/--sae, load and summarise them.")
    info.add_argument("--model", help="'embedded', a transformer_lens model name, or a local checkpoint directory.")
    info.add_argument("--sae", action="append", help="RELEASE/SAE_ID or an SAE directory (repeatable).")
    info.add_argument("--device", default="auto")
    info.set_defaults(func=_cmd_info)

    _add_engine_commands(sub)
    # lazy: saeviz.cli.evaluate pulls in pandas, which importing saeviz.cli.main does without
    from saeviz.cli.evaluate import add_evaluate_command, add_report_command

    add_evaluate_command(sub)
    add_report_command(sub)

    add_features_command(sub)
    add_tokens_command(sub)
    for name, func, text in (
        ("build-embedded", _cmd_build_embedded, "Rebuild the embedded model, tokenizer, SAEs and data from scratch."),
        ("embedded-report", _cmd_embedded_report, "Measure the embedded default's figures (loss, toy-world accuracy, SAE quality)."),
        ("bench", _cmd_bench, "Measure what users wait for (slider, sweep vs naive, prune vs retrain, WANDA, scaling, features)."),
    ):
        # these two parse their own options: everything after the command name is handed over
        cmd = sub.add_parser(name, help=text, add_help=False)
        cmd.set_defaults(func=func, rest=[])
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; the delegating commands get their options in `rest`
    (argparse's REMAINDER drops an option that comes first, so they are split off here)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.func not in (_cmd_build_embedded, _cmd_embedded_report, _cmd_bench):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.rest = unknown
    return args


def _check_cache_dir(args) -> None:
    """Commands that write to the cache find out it is unusable before any work, not after it."""
    if not hasattr(args, "cache_dir"):
        return
    # lazy: saeviz.store.db pulls in pandas, torch, which importing saeviz.cli.main does without
    from saeviz.store.db import Store

    Store(args.cache_dir).ensure_writable()


def _os_error_sentence(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if isinstance(exc, PermissionError):
        return (f"permission denied for{where}: use a file or folder you can read and write "
                "(the cache: --cache-dir or SAEVIZ_CACHE_DIR).")
    return f"{exc.strerror or exc}{':' if where else ''}{where}: check the path and the free disk space."


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        _check_cache_dir(args)
        return int(args.func(args) or 0)
    except (SaevizError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled; finished work is kept in the cache and the next run resumes from it.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory: ask for less (fewer tokens, sequences, layers or SAE sparsities) or use a "
              "machine with more memory; finished work is kept in the cache.", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {_os_error_sentence(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: one line here, the traceback on request
        if os.environ.get("SAEVIZ_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"error: unexpected {type(exc).__name__}{': ' + first if first else ''} "
              "(set SAEVIZ_DEBUG=1 to see the traceback; finished work is kept in the cache).", file=sys.stderr)
        return 1
