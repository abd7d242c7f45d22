"""`python -m saeviz tokens`: build a token set (calibration, eval, train) for a model from real text."""

from __future__ import annotations

from saeviz.jobs import tqdm_progress
from saeviz.specs import EMBEDDED, TextSource, TokenSetSpec, spec_help


def add_tokens_command(sub) -> None:
    p = sub.add_parser("tokens", help="Build calibration/eval/train token sets for a model from a Hugging Face dataset "
                                      "or local text files (resumable).")
    p.add_argument("--model", default=EMBEDDED, help=spec_help(TokenSetSpec, "model"))
    p.add_argument("--sae", help=spec_help(TokenSetSpec, "sae") + " Default text, context length and BOS come from it.")
    p.add_argument("--out", required=True, help="The token-set folder to write (pass it later as --tokens).")
    g = p.add_argument_group("text")
    g.add_argument("--text", help=spec_help(TextSource, "dataset") + " Default: the SAE's training dataset.")
    g.add_argument("--text-config", help=spec_help(TextSource, "config"))
    g.add_argument("--text-split", default="train", help=spec_help(TextSource, "split"))
    g.add_argument("--text-column", default="text", help=spec_help(TextSource, "column"))
    g.add_argument("--text-files", help="Comma-separated files of the dataset to read (one shard, say).")
    g.add_argument("--calibration-text", help="Calibration rows from this text instead ('c4': WANDA's C4 shard).")
    s = p.add_argument_group("sizes")
    s.add_argument("--calibration", type=int, default=TokenSetSpec.n_calibration, help=spec_help(TokenSetSpec, "n_calibration"))
    s.add_argument("--eval", type=int, default=TokenSetSpec.n_eval, help=spec_help(TokenSetSpec, "n_eval"))
    s.add_argument("--train-tokens", type=int, default=TokenSetSpec.train_tokens, help=spec_help(TokenSetSpec, "train_tokens"))
    s.add_argument("--context-size", type=int, help=spec_help(TokenSetSpec, "context_size"))
    s.add_argument("--bos", dest="prepend_bos", action="store_const", const=True, default=None, help="Start rows with BOS.")
    s.add_argument("--no-bos", dest="prepend_bos", action="store_const", const=False, help="Rows without BOS.")
    p.set_defaults(func=cmd_tokens)


def token_set_spec(args) -> TokenSetSpec:
    files = tuple(f.strip() for f in args.text_files.split(",") if f.strip()) if args.text_files else None
    text = TextSource(dataset=args.text, config=args.text_config, split=args.text_split, column=args.text_column,
                      data_files=files) if args.text else None
    calibration = TextSource(dataset=args.calibration_text, column=args.text_column) if args.calibration_text else None
    return TokenSetSpec(model=args.model, text=text, calibration_text=calibration, sae=args.sae,
                        n_calibration=args.calibration, n_eval=args.eval, train_tokens=args.train_tokens,
                        context_size=args.context_size, prepend_bos=args.prepend_bos)


def cmd_tokens(args) -> int:
    # lazy: saeviz.tokens.build pulls in torch, which importing saeviz.cli.main does without
    from saeviz.tokens.build import build_token_set

    manifest = build_token_set(token_set_spec(args), args.out, tqdm_progress("tokens"))
    sizes = ", ".join(f"{v['rows']:,} {k}" for k, v in manifest["splits"].items())
    fp = manifest["tokenizer"]
    print(f"{args.out}: {sizes} rows of {manifest['context_size']} tokens from {manifest['source']['dataset']}, "
          f"tokenizer {fp['name']} (vocabulary {fp['vocab_size']:,}); use it with --tokens {args.out}")
    return 0
