"""Training the embedded language model: a small pre-norm GELU transformer in transformer_lens.

Seeded and resumable: the batch order is a fixed function of the (pre-shuffled) rows and the step,
the model has no dropout, and a checkpoint (model, optimizer, step, losses) is written every
`ckpt_every` steps, so a killed run resumes to the same weights it would have reached.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

# Written to assets/model/config.json as HookedTransformerConfig kwargs.
MODEL_CONFIG: dict = {
    "n_layers": 4, "d_model": 128, "n_heads": 4, "d_head": 32, "d_mlp": 512, "d_vocab": 4096,
    "n_ctx": 128, "act_fn": "gelu", "normalization_type": "LN", "positional_embedding_type": "standard",
    "default_prepend_bos": True, "model_name": "saeviz-embedded-4l", "seed": 0,
}


@dataclass(frozen=True)
class TrainConfig:
    tokens: int = 8_000_000
    """Training tokens (rows are reused cyclically if fewer are given)."""
    batch_size: int = 32
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_frac: float = 0.1
    """Cosine decay ends at lr * min_lr_frac."""
    weight_decay: float = 0.05
    seed: int = 0
    ckpt_every: int = 50
    threads: int = 2

    @property
    def steps(self) -> int:
        return max(1, self.tokens // (self.batch_size * MODEL_CONFIG["n_ctx"]))


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warm-up then cosine decay to lr * min_lr_frac."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    frac = (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps)
    return tc.lr * (tc.min_lr_frac + (1 - tc.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def build_model(tokenizer, config: dict | None = None):
    # lazy: transformer_lens takes seconds to import
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = dict(MODEL_CONFIG if config is None else config)
    torch.manual_seed(cfg.get("seed", 0))
    return HookedTransformer(HookedTransformerConfig(**cfg), tokenizer=tokenizer)


def _optimizer(model, tc: TrainConfig) -> torch.optim.Optimizer:
    # no decay on biases, LayerNorm gains and position/embedding tables' biases
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.95))


def _batch(rows: torch.Tensor, step: int, bs: int) -> torch.Tensor:
    idx = (torch.arange(bs) + step * bs) % rows.shape[0]
    return rows[idx].long()


def _save_ckpt(path: Path, model, opt, step: int, losses: list[float], tc: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "opt": opt.state_dict(), "losses": losses,
                "train_config": asdict(tc)}, tmp)
    tmp.replace(path)  # atomic: a kill mid-write never leaves a broken checkpoint


def train(rows: torch.Tensor, tokenizer, tc: TrainConfig, ckpt: Path, fresh: bool = False,
          init_state: dict | None = None, desc: str = "model"):
    """Train (or resume) and return (model, per-step losses, seconds spent in this call).
    `init_state` starts from given weights (a second phase) instead of a fresh init."""
    # lazy: tqdm only draws CLI bars
    from tqdm.auto import tqdm

    torch.set_num_threads(tc.threads)
    model = build_model(tokenizer)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = _optimizer(model, tc)
    step, losses = 0, []
    if ckpt.exists() and not fresh:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["train_config"] == asdict(tc):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            step, losses = state["step"], state["losses"]
        else:
            print(f"checkpoint {ckpt} was made with another TrainConfig: starting afresh")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    model.train()
    t0 = time.time()
    bar = tqdm(total=tc.steps, initial=step, desc=desc, unit="step", dynamic_ncols=True)
    while step < tc.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, tc)
        loss = model(_batch(rows, step, tc.batch_size), return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        losses.append(float(loss))
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
        if step % tc.ckpt_every == 0 or step == tc.steps:
            _save_ckpt(ckpt, model, opt, step, losses, tc)
    bar.close()
    model.eval()
    return model, losses, time.time() - t0
