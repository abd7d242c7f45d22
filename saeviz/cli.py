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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m saeviz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="Versions, device, embedded assets, cache; with --model/--sae, load and summarise them.")
    info.add_argument("--model", help="'embedded', a transformer_lens model name, or a local checkpoint directory.")
    info.add_argument("--sae", action="append", help="RELEASE/SAE_ID or an SAE directory (repeatable).")
    info.add_argument("--device", default="auto")
    info.set_defaults(func=_cmd_info)

    for name, func, text in (
        ("build-embedded", _cmd_build_embedded, "Rebuild the embedded model, tokenizer, SAEs and data from scratch."),
        ("embedded-report", _cmd_embedded_report, "Measure the embedded default's figures (loss, toy-world accuracy, SAE quality)."),
    ):
        cmd = sub.add_parser(name, help=text, add_help=False)
        cmd.add_argument("rest", nargs=argparse.REMAINDER)
        cmd.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SaevizError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled; finished work is kept in the cache and the next run resumes from it.", file=sys.stderr)
        return 130
