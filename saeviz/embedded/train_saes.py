"""Training the embedded SAEs with sae_lens: one TopK SAE per (site, layer) on the dense model.

Each SAE is trained by sae_lens' own `LanguageModelSAETrainingRunner` on the build's training
rows (pre-tokenized, BOS-led, 128 tokens), saved in sae_lens' inference format
(`cfg.json` + `sae_weights.safetensors`, loadable with `SAE.load_from_disk`), with a
`training.json` beside it holding the runner config and the figures measured on the shipped
eval tokens. An SAE whose directory already holds a `training.json` made with the same settings
is skipped, so a killed stage resumes at the next SAE (unless fresh).
"""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from saeviz.embedded import SITE_HOOKS, hook_name, sae_dir


@dataclass(frozen=True)
class SaeTrainConfig:
    tokens: int = 1_500_000
    d_sae: int = 1024
    k: int = 48
    """TopK k: L0 is at most k; 48 leaves EV headroom under the L0 <= 64 target."""
    lr: float = 1e-3
    batch_tokens: int = 4096
    seed: int = 0
    eval_rows: int = 512


def _runner_config(site: str, layer: int, d_in: int, sc: SaeTrainConfig, model_name: str):
    from sae_lens import LanguageModelSAERunnerConfig, LoggingConfig, TopKTrainingSAEConfig

    steps = sc.tokens // sc.batch_tokens
    return LanguageModelSAERunnerConfig(
        sae=TopKTrainingSAEConfig(d_in=d_in, d_sae=sc.d_sae, k=sc.k, dtype="float32", device="cpu"),
        model_name=model_name, hook_name=hook_name(site, layer), hook_head_index=None,
        dataset_path="saeviz-embedded/train_rows", is_dataset_tokenized=True, streaming=False,
        context_size=128, prepend_bos=True, training_tokens=sc.tokens, train_batch_size_tokens=sc.batch_tokens,
        n_batches_in_buffer=128, store_batch_size_prompts=32, lr=sc.lr, lr_warm_up_steps=steps // 20,
        lr_decay_steps=steps // 5, device="cpu", seed=sc.seed, dtype="float32",
        logger=LoggingConfig(log_to_wandb=False), output_path=None, checkpoint_path=None,
        n_checkpoints=0, verbose=False,
    )


def d_in_at(model, site: str) -> int:
    """Width of the activation at the site, flattened over heads for hook_z."""
    return model.cfg.n_heads * model.cfg.d_head if site == "attn" else model.cfg.d_model


def train_one(model, dataset, site: str, layer: int, sc: SaeTrainConfig, out: Path, eval_rows) -> dict:
    from sae_lens import SAE, LanguageModelSAETrainingRunner

    from saeviz.embedded.metrics import sae_metrics

    torch.manual_seed(sc.seed)
    cfg = _runner_config(site, layer, d_in_at(model, site), sc, model.cfg.model_name)
    t0 = time.time()
    sae = LanguageModelSAETrainingRunner(cfg, override_model=model, override_dataset=dataset).run()
    secs = time.time() - t0
    if site == "attn":  # as sae_lens' own hook_z SAEs: accept [..., n_heads, d_head] when spliced
        sae.cfg.reshape_activations = "hook_z"
    d = sae_dir(site, layer, out)
    sae.save_inference_model(d)
    loaded = SAE.load_from_disk(str(d), device="cpu")
    figures = sae_metrics(model, loaded, hook_name(site, layer), eval_rows)
    record = {"site": site, "layer": layer, "hook_name": hook_name(site, layer), "architecture": "topk",
              "train_config": asdict(sc), "runner_config": _jsonable(cfg.to_dict()),
              "train_seconds": round(secs, 1), "eval_split": f"assets/data/eval.safetensors[:{sc.eval_rows}]",
              "metrics": figures}
    (d / "training.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def train_all_saes(out: Path, train_rows_path: Path, tokens: int, seed: int, cache_dir: Path,
                   fresh: bool, sites: tuple[str, ...] = tuple(SITE_HOOKS)) -> dict:
    """Train every (site, layer) SAE not yet done with these settings; returns a summary."""
    from datasets import Dataset
    from tqdm.auto import tqdm

    from saeviz.embedded import load_model, load_tokens
    from saeviz.embedded.data import read_tokens

    torch.set_num_threads(2)
    model = load_model(assets=out)
    sc = SaeTrainConfig(tokens=tokens, seed=seed)
    need_rows = tokens // 128 + 256  # training rows plus the mixing buffer's slack
    rows = read_tokens(train_rows_path)[:need_rows]
    dataset = Dataset.from_dict({"input_ids": rows.tolist()})
    eval_rows = load_tokens("eval", assets=out)[: sc.eval_rows]
    jobs = [(s, layer) for s in sites for layer in range(model.cfg.n_layers)]
    summary = {}
    for site, layer in tqdm(jobs, desc="saes", unit="sae"):
        done = sae_dir(site, layer, out) / "training.json"
        if done.exists() and not fresh and json.loads(done.read_text())["train_config"] == asdict(sc):
            rec = json.loads(done.read_text())
        else:
            rec = train_one(model, dataset, site, layer, sc, out, eval_rows)
        summary[f"{site}/{layer}"] = {**rec["metrics"], "train_seconds": rec["train_seconds"]}
        print(f"  {site} layer {layer}: {summary[f'{site}/{layer}']}", flush=True)
    return {"saes": summary}
