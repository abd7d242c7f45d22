"""How the shipped assets were made, as far as reading them needs: the build's settings, where its
files live, and the model's training rows (rebuilt from the shipped corpus and tokenizer on first use,
then cached; SAE retraining reads them). The builder (``saeviz.embedded_build``) runs the stages."""

from dataclasses import dataclass
from pathlib import Path

import torch

from saeviz.embedded import ASSETS_DIR, corpus, data, toyworld
from saeviz.embedded.tokenizer import encode_docs, load_tokenizer

CACHE_DIR = Path(__file__).resolve().parents[2] / "cache" / "embedded-build"
STAGES = ("corpus", "tokenizer", "data", "model", "saes")


@dataclass(frozen=True)
class BuildConfig:
    seed: int = 0
    toy_docs_for_tokenizer: int = 8_000
    toy_train_docs: int = 30_000
    """Toy-world documents in the training rows (about 80 tokens each)."""
    toy_eval_rows: int = 128
    prose_eval_rows: int = 384
    calibration_rows: int = 128
    calibration_toy_rows: int = 32
    """Of the calibration rows, those of toy-world text (training templates, fresh sentences). Measured
    with prose-only calibration: WANDA-50% beat magnitude on prose (CE 4.177 vs 4.260) but lost on
    toy-world text (1.647 vs 1.252): calibration must cover what the model is evaluated on."""
    model_tokens: int = 8_000_000
    anneal_tokens: int = 2_500_000
    """Second phase: fresh toy-world text (3/4) mixed with prose (1/4) at a lower peak lr, so that
    facts are seen in more sentences."""
    anneal_toy_docs: int = 24_000
    anneal_lr: float = 6e-4
    sae_tokens: int = 1_500_000
    bio_correlation: float = 0.9
    from_packages: bool = False
    """Regenerate the prose corpus from the Debian packages instead of the shipped copy."""


def paths(out: Path) -> dict[str, Path]:
    return {"corpus": out / "corpus" / "prose.txt.xz", "tokenizer": out / "tokenizer",
            "toyworld": out / "data" / "toyworld.json", "model": out / "model",
            "train_rows": CACHE_DIR / "train_rows.safetensors", "ckpt": CACHE_DIR / "model_ckpt.pt",
            "anneal_rows": CACHE_DIR / "anneal_rows.safetensors", "anneal_ckpt": CACHE_DIR / "anneal_ckpt.pt"}


def build_world(bc: BuildConfig) -> dict:
    return toyworld.make_world(bc.seed, bio_correlation=bc.bio_correlation)


def train_parts(bc: BuildConfig, prose, world: dict, rows):
    return rows(prose.train), rows(toyworld.documents(world, bc.toy_train_docs, bc.seed + 1))


def train_rows(out: Path = None, bc: BuildConfig = BuildConfig()):
    """The model's training rows (prose train split + toy world), rebuilt from the shipped corpus and
    tokenizer exactly as the data stage made them, and cached; SAE retraining reads them too."""
    out = out or ASSETS_DIR
    p = paths(out)
    if p["train_rows"].is_file():
        return data.read_tokens(p["train_rows"])
    tok = load_tokenizer(p["tokenizer"])
    rows = lambda docs: data.pack(encode_docs(tok, docs), tok.bos_token_id)  # noqa: E731
    prose = data.split_prose(corpus.read_corpus(p["corpus"]), bc.seed)
    train = data.shuffled_rows(torch_cat(*train_parts(bc, prose, build_world(bc), rows)), bc.seed + 3)
    data.save_tokens(train, p["train_rows"])
    return train


def torch_cat(*rows):
    return torch.cat(rows, dim=0)
