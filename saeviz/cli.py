"""`python -m saeviz <command>`: the same specs and functions as the dashboard, headless."""

from __future__ import annotations

import argparse
import sys

from saeviz.errors import SaevizError


def _cmd_info(args) -> int:
    from saeviz.info import environment_report, loaded_report

    print(environment_report())
    if args.model or args.sae:
        print(loaded_report(args.model or "embedded", args.sae or [], device=args.device))
    return 0


def _cmd_build_embedded(args) -> int:
    from saeviz.embedded import build

    return build.main(args.rest)


def _cmd_embedded_report(args) -> int:
    from saeviz.embedded import report

    return report.main(args.rest) or 0


def _add_engine_commands(sub) -> None:
    from saeviz import cli_commands as c
    from saeviz import cli_specs as o

    compress = sub.add_parser("compress", help="Compress the model; print achieved sparsity per matrix and CE vs dense.")
    o.add_model_options(compress), o.add_compress_options(compress), o.add_eval_options(compress)
    compress.set_defaults(func=c.cmd_compress)

    for name, func, text in (("prune-sae", c.cmd_prune_sae, "Prune one pretrained SAE; compare it with the unpruned one."),
                             ("train-sae", c.cmd_train_sae, "Retrain one SAE on the compressed model (resumable).")):
        cmd = sub.add_parser(name, help=text)
        o.add_model_options(cmd), o.add_compress_options(cmd), o.add_eval_options(cmd)
        cmd.add_argument("--site", required=True, choices=["attn", "mlp", "resid"])
        cmd.add_argument("--layer", required=True, type=int)
        cmd.add_argument("--out", help="Also save the resulting SAE to this folder (sae_lens format).")
        if name == "prune-sae":
            cmd.add_argument("--sae-sparsity", type=float, default=0.25)
            cmd.add_argument("--sae-method", default="wanda")
        else:
            o.add_train_options(cmd, default_tokens=1_000_000)
        cmd.set_defaults(func=func)

    sweep = sub.add_parser("sweep", help="Layers x sites x SAE sparsities x variants on a compressed model (resumable).")
    o.add_model_options(sweep), o.add_compress_options(sweep), o.add_eval_options(sweep)
    o.add_sweep_options(sweep), o.add_train_options(sweep, default_tokens=0)
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
    for name, func, text in (
        ("build-embedded", _cmd_build_embedded, "Rebuild the embedded model, tokenizer, SAEs and data from scratch."),
        ("embedded-report", _cmd_embedded_report, "Measure the embedded default's figures (loss, toy-world accuracy, SAE quality)."),
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
    if unknown and args.func not in (_cmd_build_embedded, _cmd_embedded_report):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.rest = unknown
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return int(args.func(args) or 0)
    except (SaevizError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled; finished work is kept in the cache and the next run resumes from it.", file=sys.stderr)
        return 130
