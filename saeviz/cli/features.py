"""`python -m saeviz features`: one latent's record, or a ranking of latents, for one SAE variant."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path

from saeviz.cli.options import (
    add_compress_options,
    add_model_options,
    add_ray_options,
    add_train_options,
    compress_spec,
    run_on_ray,
    train_spec,
)
from saeviz.jobs import tqdm_progress
from saeviz.model.hooks import hook_site, layer_of
from saeviz.sae.variants import VariantSpec
from saeviz.specs import EMBEDDED, EMBEDDED_SAE_TEMPLATE, MATCH_METHODS, RANKINGS, SITES, ModelSpec, SaeSpec


def parse_sae_ref(text: str, template: str = EMBEDDED_SAE_TEMPLATE) -> tuple[str, int, str]:
    """(site, layer, SAE template) from 'embedded/resid/layer_3', 'resid/3' (with ``template``), a sae_lens
    RELEASE/SAE_ID naming its hook (blocks.8.hook_resid_post), or an SAE folder whose cfg.json names it."""
    m = re.fullmatch(r"(attn|mlp|resid)[/:](?:layer_)?(\d+)", text.strip())
    if m:
        return m.group(1), int(m.group(2)), template
    spec = SaeSpec.parse(text)
    if spec.release == EMBEDDED:
        site, layer = spec.embedded_site_layer()
        return site, layer, EMBEDDED_SAE_TEMPLATE
    hook = spec.sae_id or ""
    if spec.is_local_dir and (Path(spec.release) / "cfg.json").is_file():
        cfg = json.loads((Path(spec.release) / "cfg.json").read_text())
        hook = cfg.get("hook_name") or cfg.get("metadata", {}).get("hook_name") or ""
    site, layer = hook_site(hook), layer_of(hook)
    if site in SITES and layer is not None:  # the SAE's own hook: res-jb's hook_resid_pre is site resid
        return site, layer, text.strip()
    raise ValueError(f"SAE {text!r}: cannot tell its site and layer; write SITE/LAYER (e.g. resid/3) with --sae-template, "
                     "or embedded/<site>/layer_<n>.")


def add_features_command(sub) -> None:
    p = sub.add_parser("features", help="One latent's record (contexts, quantile samples, density, histogram, logits, label, "
                                        "match) or a ranking of latents, for one SAE variant (computed once, then read).")
    add_model_options(p), add_compress_options(p)
    p.add_argument("--sae", required=True, action="append",
                   help="embedded/<site>/layer_<n>, SITE/LAYER (with --sae-template), a sae_lens RELEASE/SAE_ID naming its "
                        "hook, or an SAE folder; repeat it for several SAEs (with --ray, each SAE's latents are a unit; "
                        "--json then prints one line per SAE).")
    p.add_argument("--variant", default="pretrained", help="dense, pretrained, pruned25 (or pruned0.25), pruned_best, retrained.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--latent", type=int, help="The latent's index.")
    what.add_argument("--rank", choices=RANKINGS, help="List latents: most changed, newly dead, unmatched, densest.")
    p.add_argument("--top", type=int, default=20, help="How many latents --rank lists.")
    p.add_argument("--json", action="store_true", help="Print JSON (machine-readable) instead of text.")
    p.add_argument("--sequences", type=int, default=None, help="Evaluation sequences read (default: the whole evaluation split).")
    p.add_argument("--match", default="hungarian", choices=MATCH_METHODS,
                   help="How retrained latents pair with pretrained ones by decoder cosine: an assignment or mutual best matches.")
    p.add_argument("--min-cosine", type=float, default=0.5, help="Pairs below this decoder cosine count as unmatched.")
    add_train_options(p, default_tokens=1_000_000)
    add_ray_options(p)
    p.set_defaults(func=cmd_features)


def cmd_features(args) -> int:
    # lazy: saeviz.pipeline.feature_jobs pulls in numpy, pandas, torch, which importing saeviz.cli.features does
    from saeviz.features.diff import MatchSpec
    from saeviz.features.stats import FeatureSpec
    from saeviz.pipeline import feature_jobs as fj
    from saeviz.pipeline.workbench import Workbench
    from saeviz.store.db import Store

    compress, variant = compress_spec(args), VariantSpec.parse(args.variant, train=train_spec(args))
    spec, match = FeatureSpec(n_sequences=args.sequences), MatchSpec(method=args.match, min_cosine=args.min_cosine)
    refs = [parse_sae_ref(text, args.sae_template) for text in args.sae]  # every reference checked before any work
    benches = {}
    for _, _, template in refs:  # SAEs of one template share a Workbench (one model load)
        benches.setdefault(template, Workbench(ModelSpec(name=args.model, device=args.device, dtype=args.dtype),
                                               Store(args.cache_dir), tokens_source=args.tokens, sae_template=template))
    for template, bench in benches.items():
        where = [(site, layer) for site, layer, t in refs if t == template]
        bench.check_units(tuple(dict.fromkeys(s for s, _ in where)), tuple(dict.fromkeys(la for _, la in where)))

        def stages(bench=bench, where=where):
            # lazy: the cluster package loads only with --ray
            from saeviz.cluster.plans import feature_stages

            compare = match if fj.reference_of(variant) is not None else None
            return feature_stages(bench, compress, where, (variant,), spec, compare)

        run_on_ray(args, bench, stages, "features")
    for site, layer, template in refs:
        _answer(args, benches[template], compress, site, layer, variant, spec, match)
    return 0


def _answer(args, bench, compress, site: str, layer: int, variant, spec, match) -> None:
    """One SAE's record or ranking, printed (computed here when the cache lacks it)."""
    # lazy: saeviz.pipeline.feature_jobs pulls in numpy, pandas, torch, which importing saeviz.cli.features does
    from saeviz.pipeline import feature_jobs as fj

    where = (compress, site, layer, variant)
    # libraries print progress notes on stdout: keep stdout for the answer alone (JSON must parse)
    with contextlib.redirect_stdout(sys.stderr):
        progress = tqdm_progress(f"features {variant.label()}")
        if args.rank:
            out = fj.ranking(bench, *where, args.rank, args.top, spec, match, progress)
            lost = fj.lost_reference_latents(bench, *where, spec, match) if args.rank == "unmatched" else None
        else:
            tables = fj.feature_tables(bench, *where, spec, progress)
            out = fj.latent_record(tables, fj.vocabulary(bench), args.latent)
            if fj.reference_of(variant) is not None:
                changes = fj.latent_changes(bench, *where, spec, match, progress)
                out["match"] = {"reference": fj.reference_of(variant).label(),
                                **{k: _plain(v) for k, v in changes.iloc[args.latent].items() if k != "latent"}}
    header = f"{site} layer {layer}, {variant.label()} SAE on {compress.label() if not variant.on_dense_model else 'the dense model'}"
    if args.json:
        rows = out.astype(object).where(out.notna(), None).to_dict(orient="records") if args.rank else None
        payload = {"ranking": args.rank, "latents": rows} if args.rank else out
        if args.rank == "unmatched":
            payload["unmatched_reference"] = lost
        print(json.dumps({"sae": header, **payload}, default=_plain, allow_nan=False))  # NaN is not JSON: null
    elif args.rank:
        print(f"{header}: {args.rank}")
        print(out.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if lost is not None:
            print(f"{len(lost)} {fj.reference_of(variant).label()} latents pair with none of this SAE's: {lost[:50]}")
    else:
        print(format_record(out, header))


def _plain(value):
    """numpy scalars (and NaN) as JSON-friendly Python values."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _num(value, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _marked(ctx: dict) -> str:
    """A context as text: active tokens followed by their activation in brackets, the maximum in >> <<."""
    parts = []
    for i, (tok, act) in enumerate(zip(ctx["tokens"], ctx["acts"])):
        text = tok.replace("\n", "\\n")
        if i == ctx["center"]:
            text = f">>{text}<<"
        parts.append(f"{text}[{act:.2f}]" if act > 0 else text)
    return "".join(parts)


def format_record(r: dict, header: str) -> str:
    lines = [f"latent {r['latent']} of {header}: {r['name'] or '(silent)'}",
             f"  density {r['density']:.5f} ({r['n_active']} tokens), mean when active {r['mean_active']:.4f}, max {r['max_act']:.4f}"]
    if r.get("concept"):
        lines.append(f"  best toy-world concept: {r['concept']} (precision {r['concept_precision']:.2f}, recall {r['concept_recall']:.2f}, "
                     f"F1 {r['concept_f1']:.2f})")
    if "match" in r:
        m = r["match"]
        lines.append(f"  vs {m['reference']}: paired with latent {m['ref_latent']}, decoder cosine {_num(m['cosine'])}, "
                     f"activation correlation {_num(m['corr'])}, density {_num(m['density_ref'], '.5f')} -> {_num(m['density'], '.5f')}"
                     + (", dead after compression" if m["dead_after"] else "")
                     + (", its whole decoder row was pruned" if m["decoder_gone"] else ""))
    lines.append("top contexts (act  seq:pos  text):")
    lines += [f"  {c['act']:7.3f}  {c['seq']}:{c['pos']}  {_marked(c)}" for c in r["top_contexts"]]
    for band in r["quantiles"]:
        lines.append(f"quantile band {band['band']} [{band['low']:.3f}, {band['high']:.3f}]:")
        lines += [f"  {c['act']:7.3f}  {c['seq']}:{c['pos']}  {_marked(c)}" for c in band["examples"]]
    h = r["histogram"]
    lines.append(f"histogram of non-zero activations ({len(h['counts'])} bins of width {h['edges'][1] - h['edges'][0]:.4f}): "
                 + " ".join(map(str, h["counts"])))
    for side in ("positive", "negative"):
        if "logits" in r:
            lines.append(f"{side} logits: " + ", ".join(f"{e['token']!r} {e['value']:+.3f}" for e in r["logits"][side]))
    return "\n".join(lines)
