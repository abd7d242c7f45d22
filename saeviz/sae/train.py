"""Retraining an SAE from scratch on a (compressed) model's activations, through sae_lens' trainer.

The new SAE has the pretrained one's site, architecture and width. Activations are computed on the
fly from the model (a data provider feeding sae_lens' SAETrainer), so memory stays flat; progress,
cancellation and resume from checkpoints go through that provider.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from saeviz.jobs import Cancelled, Progress, report
from saeviz.model.activations import activation_batches
from saeviz.specs import TrainSpec
from saeviz.store.atomic import remove_stale_temps, write_atomic, write_text_atomic


def _topk(sae, spec: TrainSpec):
    # lazy: sae_lens takes seconds to import
    from sae_lens import TopKTrainingSAEConfig

    return TopKTrainingSAEConfig, {"k": sae.cfg.k}


def _jumprelu(sae, spec: TrainSpec):
    # lazy: sae_lens takes seconds to import
    from sae_lens import JumpReLUTrainingSAEConfig

    return JumpReLUTrainingSAEConfig, ({} if spec.sparsity_coefficient is None else {"l0_coefficient": spec.sparsity_coefficient})


def _standard(sae, spec: TrainSpec):
    # lazy: sae_lens takes seconds to import
    from sae_lens import StandardTrainingSAEConfig

    return StandardTrainingSAEConfig, {"l1_coefficient": spec.sparsity_coefficient or 5.0}


# architecture -> (training config class, its architecture-specific fields) for an SAE "like" a pretrained one
TRAIN_CONFIGS: dict[str, Callable] = {"topk": _topk, "jumprelu": _jumprelu, "standard": _standard}


def training_config_like(sae, spec: TrainSpec):
    arch = sae.cfg.architecture()
    if arch not in TRAIN_CONFIGS:
        raise ValueError(f"Retraining {arch!r} SAEs is not supported yet; supported: {sorted(TRAIN_CONFIGS)}.")
    # lazy: sae_lens takes seconds to import
    from sae_lens.saes.sae import SAEMetadata

    cfg_cls, extra = TRAIN_CONFIGS[arch](sae, spec)
    meta = {k: v for k, v in sae.cfg.metadata.to_dict().items() if k in ("hook_name", "model_name", "context_size", "prepend_bos", "hook_head_index")}
    return cfg_cls(d_in=sae.cfg.d_in, d_sae=sae.cfg.d_sae, device=str(sae.device), metadata=SAEMetadata(**meta), **extra)


class ActivationStream:
    """Endless shuffled batches of activations; its position (epoch, chunk, batch) makes resume exact."""

    def __init__(self, model, hook_name: str, tokens_NT: torch.Tensor, batch_size: int, seed: int,
                 total_samples: int = 0, progress: Progress | None = None, batches_per_chunk: int = 4):
        self.model, self.hook, self.tokens, self.batch = model, hook_name, tokens_NT, batch_size
        # a chunk of sequences must hold several whole batches (its remainder is dropped)
        usable_per_seq = max(1, tokens_NT.shape[1] - 1)
        self.seqs_per_chunk = min(-(-batches_per_chunk * batch_size // usable_per_seq) + 1, tokens_NT.shape[0])
        if self.seqs_per_chunk * usable_per_seq < batch_size:
            raise ValueError(f"{tokens_NT.shape[0]} training sequences cannot fill one batch of "
                             f"{batch_size} tokens: give more training tokens or a smaller batch_size_tokens.")
        self.seed = seed
        self.total, self.progress = total_samples, progress
        self.position = {"epoch": 0, "chunk": 0, "batch": 0, "samples": 0}

    def __iter__(self):
        return self._generate()

    def _generate(self):
        pos = self.position
        while True:
            order = torch.randperm(self.tokens.shape[0], generator=torch.Generator().manual_seed(self.seed + pos["epoch"]))
            chunks = order.split(self.seqs_per_chunk)
            while pos["chunk"] < len(chunks):
                _, acts = next(activation_batches(self.model, self.hook, self.tokens[chunks[pos["chunk"]]], self.seqs_per_chunk))
                gen = torch.Generator().manual_seed(hash((self.seed, pos["epoch"], pos["chunk"])) % 2**31)
                acts = acts[torch.randperm(acts.shape[0], generator=gen)]
                n_batches = acts.shape[0] // self.batch  # the remainder is dropped so positions stay exact
                while pos["batch"] < n_batches:
                    report(self.progress, pos["samples"], self.total, "training SAE")
                    batch = acts[pos["batch"] * self.batch : (pos["batch"] + 1) * self.batch].detach()
                    # advance before yielding: a checkpoint taken after this step resumes at the next batch
                    pos["batch"] += 1
                    pos["samples"] += self.batch
                    yield batch
                pos["chunk"], pos["batch"] = pos["chunk"] + 1, 0
            pos["epoch"], pos["chunk"] = pos["epoch"] + 1, 0


@dataclass(frozen=True)
class TrainResult:
    sae: object
    seconds: float
    tokens: int
    resumed_from: int


def _latest_checkpoint(ckpt_root: Path) -> Path | None:
    """The checkpoint with the most samples among complete ones: stream.json is written last and
    atomically, so a checkpoint cut short by a kill has none and is skipped."""
    done = [p for p in ckpt_root.glob("*") if (p / "stream.json").is_file()]
    return max(done, key=lambda p: json.loads((p / "stream.json").read_text())["samples"], default=None)


def _save_final(trained, final_dir: Path) -> None:
    """Save the trained SAE to ``final_dir`` whole or not at all: its cfg.json marks a finished run, and
    sae_lens writes it non-atomically, so a kill mid-save must not leave a folder that looks finished."""
    write_atomic(final_dir, lambda tmp: trained.save_inference_model(str(tmp)))


def retrain_like(pretrained, model, tokens_NT: torch.Tensor, spec: TrainSpec, workdir: Path,
                 progress: Progress | None = None) -> TrainResult:
    """Train a new SAE like ``pretrained`` on ``model``'s activations; resumes from ``workdir`` checkpoints."""
    return train_sae(training_config_like(pretrained, spec), model, tokens_NT, spec, workdir, progress)


def train_sae(cfg, model, tokens_NT: torch.Tensor, spec: TrainSpec, workdir: Path,
              progress: Progress | None = None) -> TrainResult:
    """Train an SAE of sae_lens training config ``cfg`` (its metadata names the hook) on ``model``'s
    activations over ``tokens_NT``; resumes from ``workdir`` checkpoints, saves to ``workdir/final``."""
    # lazy: sae_lens takes seconds to import
    from sae_lens import SAE
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.sae import TrainingSAE
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(spec.seed)
    workdir = Path(workdir)
    remove_stale_temps(workdir)  # a final folder half-saved by a killed run
    ckpt_root = workdir / "checkpoints"
    sae = TrainingSAE.from_dict(cfg.to_dict())
    stream = ActivationStream(model, cfg.metadata.hook_name, tokens_NT, spec.batch_size_tokens, spec.seed,
                              total_samples=spec.training_tokens, progress=progress)
    steps = spec.training_tokens // spec.batch_size_tokens
    trainer_cfg = SAETrainerConfig(
        total_training_samples=spec.training_tokens, train_batch_size_samples=spec.batch_size_tokens,
        lr=spec.lr, lr_end=spec.lr, lr_scheduler_name="constant",  # constant, then sae_lens' linear decay to 0
        lr_warm_up_steps=int(spec.lr_warm_up_frac * steps), lr_decay_steps=int(spec.lr_decay_frac * steps),
        device=str(sae.device), n_checkpoints=spec.checkpoints, checkpoint_path=str(ckpt_root),
        dead_feature_window=max(1, spec.training_tokens // spec.batch_size_tokens // 4),
        # one sparsity window for the whole run: sae_lens only resets it to log to wandb, which we don't
        feature_sampling_window=spec.training_tokens // spec.batch_size_tokens + 1,
    )

    def save_stream(checkpoint_path: Path | None) -> None:
        if checkpoint_path is not None:
            write_text_atomic(Path(checkpoint_path) / "stream.json", json.dumps(stream.position))

    trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=iter(stream), save_checkpoint_fn=save_stream)
    resumed = 0
    latest = _latest_checkpoint(ckpt_root) if ckpt_root.exists() else None
    if latest is not None:
        trainer.load_trainer_state(latest)
        sae.load_weights_from_checkpoint(latest)
        stream.position.update(json.loads((latest / "stream.json").read_text()))
        resumed = trainer.n_training_samples
    trainer.data_provider = iter(stream)
    start = time.perf_counter()
    try:
        trained = trainer.fit()
    except Cancelled:
        trainer.save_checkpoint(checkpoint_name=f"cancelled_{stream.position['samples']}")
        raise
    final_dir = workdir / "final"
    _save_final(trained, final_dir)
    result = SAE.load_from_disk(str(final_dir), device=str(sae.device))
    return TrainResult(sae=result.eval(), seconds=time.perf_counter() - start, tokens=spec.training_tokens - resumed,
                       resumed_from=resumed)
