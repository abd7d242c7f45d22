"""Training the embedded SAEs: one TopK SAE per (site, layer) on the dense model.

Each SAE is trained by `saeviz.sae.train.train_sae` (sae_lens' SAETrainer fed by saeviz's activation
stream: the same code that retrains SAEs on compressed models, so pretrained and retrained SAEs
differ only in the model they read), on the build's training rows, and saved in sae_lens' format
(`cfg.json` + `sae_weights.safetensors`, loadable with `SAE.load_from_disk`). A `training.json`
beside it holds the configs and the figures measured on the shipped eval tokens. An SAE whose
folder holds a `training.json` made with the same settings is skipped, and one killed mid-run
resumes from its checkpoints in the build cache (unless fresh).
"""

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from saeviz.embedded import SITE_HOOKS, load_model, load_tokens, sae_dir
from saeviz.embedded.data import read_tokens
from saeviz.embedded_build.metrics import sae_figures
from saeviz.jobs import tqdm_progress
from saeviz.sae.load import load_sae_dir
from saeviz.sae.train import train_sae
from saeviz.specs import TrainSpec, site_hook


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

    def train_spec(self):
        return TrainSpec(training_tokens=self.tokens, lr=self.lr, batch_size_tokens=self.batch_tokens,
                         seed=self.seed, checkpoints=3)


def d_in_at(model, site: str) -> int:
    """Width of the activation at the site, flattened over heads for hook_z."""
    return model.cfg.n_heads * model.cfg.d_head if site == "attn" else model.cfg.d_model


def training_config(model, site: str, layer: int, sc: SaeTrainConfig):
    # lazy: sae_lens takes seconds to import
    from sae_lens import TopKTrainingSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=site_hook(site, layer), model_name=model.cfg.model_name, context_size=128,
                       prepend_bos=True, hook_head_index=None)
    return TopKTrainingSAEConfig(d_in=d_in_at(model, site), d_sae=sc.d_sae, k=sc.k, dtype="float32",
                                 device="cpu", metadata=meta)


def train_one(model, rows, site: str, layer: int, sc: SaeTrainConfig, out: Path, eval_rows, workdir: Path,
              fresh: bool) -> dict:
    if fresh:
        shutil.rmtree(workdir, ignore_errors=True)
    result = train_sae(training_config(model, site, layer, sc), model, rows, sc.train_spec(), workdir,
                       progress=tqdm_progress(f"{site} layer {layer}"))
    d = sae_dir(site, layer, out)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(workdir / "final", d)
    if site == "attn":  # as sae_lens' own hook_z SAEs: read [..., n_heads, d_head] when spliced by sae_lens
        cfg = json.loads((d / "cfg.json").read_text())
        (d / "cfg.json").write_text(json.dumps({**cfg, "reshape_activations": "hook_z"}, indent=1))
    figures = sae_figures(model, load_sae_dir(d), site_hook(site, layer), eval_rows)
    record = {"site": site, "layer": layer, "hook_name": site_hook(site, layer), "architecture": "topk",
              "train_config": asdict(sc), "train_spec": asdict(sc.train_spec()),
              "train_seconds": round(result.seconds, 1),
              "eval_split": f"assets/data/eval.safetensors[:{sc.eval_rows}]", "metrics": figures}
    (d / "training.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def train_all_saes(out: Path, train_rows_path: Path, tokens: int, seed: int, cache_dir: Path,
                   fresh: bool, sites: tuple[str, ...] = tuple(SITE_HOOKS)) -> dict:
    """Train every (site, layer) SAE not yet done with these settings; returns a summary."""
    torch.set_num_threads(2)
    model = load_model(assets=out)
    sc = SaeTrainConfig(tokens=tokens, seed=seed)
    need_rows = tokens // 127 + 512  # one pass over distinct rows, plus the stream's chunk slack
    rows = read_tokens(train_rows_path)[:need_rows].long()
    eval_rows = load_tokens("eval", assets=out)[: sc.eval_rows]
    summary = {}
    for site in sites:
        for layer in range(model.cfg.n_layers):
            done = sae_dir(site, layer, out) / "training.json"
            if done.exists() and not fresh and json.loads(done.read_text())["train_config"] == asdict(sc):
                rec = json.loads(done.read_text())
            else:
                rec = train_one(model, rows, site, layer, sc, out, eval_rows,
                                cache_dir / "saes" / site / f"layer_{layer}", fresh)
            summary[f"{site}/{layer}"] = {**rec["metrics"], "train_seconds": rec["train_seconds"]}
            print(f"  {site} layer {layer}: {summary[f'{site}/{layer}']}", flush=True)
    return {"saes": summary}
