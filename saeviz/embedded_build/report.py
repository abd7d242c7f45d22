"""Measure and print the embedded build's figures from the shipped assets.

`python -m saeviz embedded-report [--per-cell N] [--sae-rows N]`: held-out LM loss against the
unigram entropy of the same tokens, toy-world completion accuracy on held-out templates (by
template kind and attribute; also, for contrast, on phrasings whose relation words no training text
uses, on training templates, and on held-out entities whose facts were never seen),
and every SAE's EV / MSE / L0 / dead fraction / spliced CE on the eval tokens.
"""

import argparse
import random
from pathlib import Path

import torch

from saeviz.embedded import ASSETS_DIR, available_saes, load_model, load_tokens, load_toyworld, sae_dir
from saeviz.embedded.toyworld import fact_prompts
from saeviz.embedded_build.metrics import accuracy_table, fact_accuracy, sae_figures, unigram_entropy
from saeviz.model.loss import ce_loss
from saeviz.sae.load import load_sae_dir
from saeviz.specs import site_hook


def sample_prompts(rows: list[dict], per_cell: int, seed: int = 0) -> list[dict]:
    """At most `per_cell` prompts per (attribute, kind), chosen reproducibly."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        cells.setdefault((r["attribute"], r["kind"]), []).append(r)
    rng = random.Random(seed)
    out = []
    for key in sorted(cells):
        c = cells[key]
        out += c if len(c) <= per_cell else rng.sample(c, per_cell)
    return out


def measure_lm(model, assets: Path) -> dict:
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded_build.report stays light
    from safetensors.torch import load_file

    data = load_file(str(assets / "data" / "eval.safetensors"))
    rows, toy = data["input_ids"], data["is_toyworld"].bool()
    return {"eval_loss": round(ce_loss(model, rows, 64), 4), "eval_loss_prose": round(ce_loss(model, rows[~toy], 64), 4),
            "eval_loss_toyworld": round(ce_loss(model, rows[toy], 64), 4),
            "unigram_entropy": round(unigram_entropy(rows[:, 1:]), 4),
            "unigram_entropy_prose": round(unigram_entropy(rows[~toy][:, 1:]), 4), "eval_tokens": rows.numel()}


def measure_toyworld(model, assets: Path, per_cell: int) -> dict:
    world = load_toyworld(assets)
    out = {}
    for label, which, ents, n in (("heldout_templates", "heldout", "train", per_cell),
                                  ("novel_phrasings", "novel", "train", per_cell),
                                  ("train_templates", "train", "train", max(1, per_cell // 4)),
                                  ("heldout_entities", "heldout", "heldout", max(1, per_cell // 4))):
        prompts = sample_prompts(fact_prompts(world, which, ents), n)
        out[label] = accuracy_table(prompts, fact_accuracy(model, model.tokenizer, prompts))
    facts = [a for a in out["heldout_templates"]["by_attribute"] if not a.startswith("word.")]
    out["heldout_templates"]["entity_facts_only"] = round(
        sum(out["heldout_templates"]["by_attribute"][a] for a in facts) / len(facts), 4)
    return out


def measure_saes(model, assets: Path, n_rows: int) -> dict:
    rows = load_tokens("eval", assets)[:n_rows]
    return {f"{site}/{layer}": sae_figures(model, load_sae_dir(sae_dir(site, layer, assets), device="cpu"),
                                           site_hook(site, layer), rows)
            for site, layer in available_saes(assets)}


def measure(assets: Path = ASSETS_DIR, per_cell: int = 60, sae_rows: int = 512) -> dict:
    """All figures of the embedded build, measured from `assets` (about 2-3 minutes on 2 cores)."""
    torch.set_num_threads(2)
    model = load_model(assets=assets)
    return {"lm": measure_lm(model, assets), "toyworld": measure_toyworld(model, assets, per_cell),
            "saes": measure_saes(model, assets, sae_rows)}


def format_figures(fig: dict) -> str:
    lm, tw = fig["lm"], fig["toyworld"]
    lines = [f"held-out LM loss {lm['eval_loss']:.3f} nats (prose {lm['eval_loss_prose']:.3f}, toy world "
             f"{lm['eval_loss_toyworld']:.3f}); unigram entropy {lm['unigram_entropy']:.3f} "
             f"(prose {lm['unigram_entropy_prose']:.3f})", "",
             "toy-world completion accuracy (rank candidates by log-prob):"]
    for label, t in tw.items():
        kinds = ", ".join(f"{k} {v:.3f}" for k, v in t["by_kind"].items())
        lines.append(f"  {label:18s} overall {t['overall']:.3f} (n={t['n']}): {kinds}")
    lines.append("  held-out templates by attribute: " + ", ".join(
        f"{k} {v:.3f}" for k, v in tw["heldout_templates"]["by_attribute"].items()))
    lines += ["", f"{'SAE':10s} {'EV':>6s} {'MSE':>9s} {'L0':>6s} {'dead':>6s} {'CE clean':>9s} "
                  f"{'CE SAE':>7s} {'CE zero':>8s} {'CE score':>8s} {'KL':>7s}"]
    for key, m in fig["saes"].items():
        lines.append(f"{key:10s} {m['explained_variance']:6.3f} {m['mse']:9.5f} {m['l0']:6.1f} "
                     f"{m['dead_fraction']:6.3f} {m['ce_loss_without_sae']:9.3f} {m['ce_loss_with_sae']:7.3f} "
                     f"{m['ce_loss_with_ablation']:8.3f} {m['ce_loss_score']:8.3f} {m['kl_div_with_sae']:7.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="saeviz embedded-report", description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=Path, default=ASSETS_DIR)
    ap.add_argument("--per-cell", type=int, default=60, help="prompts per (attribute, template kind)")
    ap.add_argument("--sae-rows", type=int, default=512, help="eval rows for the SAE figures")
    a = ap.parse_args(argv)
    print(format_figures(measure(a.assets, a.per_cell, a.sae_rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
