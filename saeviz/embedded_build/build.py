"""Rebuild the embedded assets: corpus -> tokenizer -> data -> model -> saes (-> manifest).

`python -m saeviz build-embedded [--stage STAGE] [--fresh] [--out DIR] [budgets]`. Every stage
is seeded; intermediate state (training rows, checkpoints) lives in cache/embedded-build/ and a
killed model or SAE stage resumes from its checkpoint unless --fresh is given.
"""

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from saeviz.embedded import ASSETS_DIR, corpus, data, sha256, toyworld
from saeviz.embedded.recipe import CACHE_DIR, STAGES, BuildConfig, build_world, paths, torch_cat, train_parts
from saeviz.embedded.tokenizer import encode_docs, load_tokenizer, train_tokenizer
from saeviz.embedded_build import report
from saeviz.embedded_build.train_model import MODEL_CONFIG, TrainConfig, train
from saeviz.embedded_build.train_saes import train_all_saes


def stage_corpus(bc: BuildConfig, out: Path, fresh: bool) -> dict:
    path = paths(out)["corpus"]
    if bc.from_packages or not path.exists():
        corpus.write_corpus(corpus.corpus_from_packages(), path)
    docs = corpus.read_corpus(path)
    return {"prose_docs": len(docs), "prose_chars": sum(map(len, docs))}


def stage_tokenizer(bc: BuildConfig, out: Path, fresh: bool) -> dict:
    p = paths(out)
    prose = data.split_prose(corpus.read_corpus(p["corpus"]), bc.seed)
    toy = toyworld.documents(build_world(bc), bc.toy_docs_for_tokenizer, bc.seed + 1)
    train_tokenizer(prose.train + toy, p["tokenizer"])
    return {}


def stage_data(bc: BuildConfig, out: Path, fresh: bool) -> dict:
    # lazy: torch loads only when this runs, so importing saeviz.embedded_build.build stays light
    import torch


    p = paths(out)
    tok = load_tokenizer(p["tokenizer"])
    sep = tok.bos_token_id
    world = build_world(bc)
    p["toyworld"].parent.mkdir(parents=True, exist_ok=True)
    p["toyworld"].write_text(json.dumps(world, indent=1, sort_keys=True))
    prose = data.split_prose(corpus.read_corpus(p["corpus"]), bc.seed)
    rows = lambda docs: data.pack(encode_docs(tok, docs), sep)  # noqa: E731
    n_toy_cal = bc.calibration_toy_rows
    calib = data.shuffled_rows(torch_cat(
        data.take_rows(rows(prose.calibration), bc.calibration_rows - n_toy_cal, "calibration"),
        data.take_rows(rows(toyworld.documents(world, 4 * n_toy_cal, bc.seed + 7)), n_toy_cal, "toy calibration")),
        bc.seed + 8)
    toy_eval = rows(toyworld.documents(world, 4 * bc.toy_eval_rows, bc.seed + 2, which="heldout"))
    both = torch_cat(data.take_rows(rows(prose.eval), bc.prose_eval_rows, "prose eval"),
                     data.take_rows(toy_eval, bc.toy_eval_rows, "toy eval"))
    order = data.permutation(both.shape[0], bc.seed)
    is_toy = (order >= bc.prose_eval_rows).to(torch.uint8)  # 1 for toy-world rows
    ev = both[order]
    meta = {"seed": str(bc.seed), "bos_token_id": str(sep)}
    data.save_tokens(calib, out / "data" / "calibration.safetensors",
                     {**meta, "source": f"{bc.calibration_rows - n_toy_cal} prose calibration-split rows + {n_toy_cal} "
                                        "toy-world rows (training templates, sentences generated apart from the training rows), shuffled"})
    data.save_tokens(ev, out / "data" / "eval.safetensors",
                     {**meta, "source": f"{bc.prose_eval_rows} prose eval-split rows + {bc.toy_eval_rows} "
                                        "toy-world rows from held-out templates, shuffled; is_toyworld marks the latter"},
                     extra={"is_toyworld": is_toy})
    prose_train, toy_train = train_parts(bc, prose, world, rows)
    data.save_tokens(data.shuffled_rows(torch_cat(prose_train, toy_train), bc.seed + 3), p["train_rows"])
    toy_anneal = rows(toyworld.documents(world, bc.anneal_toy_docs, bc.seed + 4))
    n_prose = min(prose_train.shape[0], toy_anneal.shape[0] // 3)
    anneal = data.shuffled_rows(torch_cat(data.shuffled_rows(prose_train, bc.seed + 5)[:n_prose], toy_anneal),
                                bc.seed + 6)
    data.save_tokens(anneal, p["anneal_rows"])
    return {"train_rows_prose": prose_train.shape[0], "train_rows_toy": toy_train.shape[0],
            "eval_rows": ev.shape[0], "calibration_rows": calib.shape[0]}


def stage_model(bc: BuildConfig, out: Path, fresh: bool) -> dict:
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded_build.build stays light
    from safetensors.torch import save_file

    from saeviz.embedded.tokenizer import load_tokenizer

    p = paths(out)
    tok = load_tokenizer(p["tokenizer"])
    tc = TrainConfig(tokens=bc.model_tokens, seed=bc.seed)
    model, losses, _ = train(data.read_tokens(p["train_rows"]), tok, tc, p["ckpt"], fresh=fresh)
    tc2 = TrainConfig(tokens=bc.anneal_tokens, seed=bc.seed, lr=bc.anneal_lr, warmup_steps=20)
    model, losses2, _ = train(data.read_tokens(p["anneal_rows"]), tok, tc2, p["anneal_ckpt"], fresh=fresh,
                              init_state=model.state_dict(), desc="anneal")
    losses = losses + losses2
    p["model"].mkdir(parents=True, exist_ok=True)
    (p["model"] / "config.json").write_text(json.dumps(MODEL_CONFIG, indent=1, sort_keys=True))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(p["model"] / "model.safetensors"))
    (p["model"] / "training.json").write_text(json.dumps(
        {"train_config": asdict(tc), "anneal_config": asdict(tc2), "final_train_loss": sum(losses[-50:]) / len(losses[-50:]),
         "loss_every_50_steps": losses[::50]}, indent=1))
    return {"final_train_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4)}


def stage_saes(bc: BuildConfig, out: Path, fresh: bool) -> dict:
    return train_all_saes(out, paths(out)["train_rows"], bc.sae_tokens, bc.seed, CACHE_DIR, fresh)


STAGE_FNS = {"corpus": stage_corpus, "tokenizer": stage_tokenizer, "data": stage_data,
             "model": stage_model, "saes": stage_saes}


def write_manifest(out: Path, bc: BuildConfig, stage_info: dict) -> dict:
    """sha256 of every asset file, plus build config, per-stage timings and figures."""
    path = out / "manifest.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    files = {str(f.relative_to(out)): sha256(f) for f in sorted(out.rglob("*"))
             if f.is_file() and f.name != "manifest.json"}
    stages = {**old.get("stages", {}), **stage_info}
    manifest = {"files": files, "build_config": asdict(bc), "stages": stages,
                "total_bytes": sum((out / f).stat().st_size for f in files),
                "figures": old.get("figures", {})}
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="saeviz build-embedded", description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=(*STAGES, "all"), default="all")
    ap.add_argument("--out", type=Path, default=ASSETS_DIR, help="assets directory to write")
    ap.add_argument("--fresh", action="store_true", help="ignore checkpoints in cache/embedded-build")
    ap.add_argument("--from-packages", action="store_true",
                    help="regenerate the prose corpus from Debian's bible-kjv and fortunes packages")
    ap.add_argument("--model-tokens", type=int, default=BuildConfig.model_tokens)
    ap.add_argument("--anneal-tokens", type=int, default=BuildConfig.anneal_tokens)
    ap.add_argument("--sae-tokens", type=int, default=BuildConfig.sae_tokens)
    ap.add_argument("--toy-train-docs", type=int, default=BuildConfig.toy_train_docs)
    ap.add_argument("--seed", type=int, default=BuildConfig.seed)
    ap.add_argument("--no-report", action="store_true", help="skip measuring the figures at the end")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = _parse(argv)
    bc = replace(BuildConfig(), seed=a.seed, model_tokens=a.model_tokens, anneal_tokens=a.anneal_tokens,
                 sae_tokens=a.sae_tokens,
                 toy_train_docs=a.toy_train_docs, from_packages=a.from_packages)
    stages = STAGES if a.stage == "all" else (a.stage,)
    info = {}
    for stage in stages:
        t0 = time.time()
        print(f"== stage {stage}", flush=True)
        res = STAGE_FNS[stage](bc, a.out, a.fresh)
        info[stage] = {**res, "seconds": round(time.time() - t0, 1)}
        print(f"   {stage}: {info[stage]}", flush=True)
    manifest = write_manifest(a.out, bc, info)
    if not a.no_report and (a.out / "model" / "model.safetensors").exists():
        manifest["figures"] = report.measure(a.out)
        (a.out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        print(report.format_figures(manifest["figures"]))
    print(f"assets: {manifest['total_bytes'] / 1e6:.1f} MB in {len(manifest['files'])} files under {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
