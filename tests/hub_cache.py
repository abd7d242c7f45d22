"""A local Hugging Face cache as a cluster's compute node has it, built from scratch for the tests.

It holds, in the hub cache's own layout (``hub/{models,datasets}--owner--name/{refs,snapshots}``):
- ``gpt2``: a GPT-2 config with the real keys (n_ctx included), small random weights in safetensors,
  and a byte-level BPE tokenizer trained here (GPT-2's own vocabulary cannot be downloaded);
- the ``gpt2-small-res-jb`` release (hook_resid_pre, layers 0-1) and ``gpt2-small-resid-post-v5-32k``
  (hook_resid_post, layers 0-1) in sae_lens' format, with the datasets their configs name;
- ``Skylion007/openwebtext``: a parquet shard of real prose (the embedded corpus).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
from pathlib import Path

N_LAYERS, D_MODEL, N_CTX = 2, 64, 128
RES_JB = ("jbloom/GPT2-Small-SAEs-Reformatted", "blocks.{layer}.hook_resid_pre", "blocks.{layer}.hook_resid_pre", "standard")
V5_32K = ("jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs", "v5_32k_layer_{layer}.pt", "blocks.{layer}.hook_resid_post", "topk")
CORPUS = Path(__file__).resolve().parents[1] / "saeviz" / "embedded" / "assets" / "corpus" / "prose.txt.xz"


def write_hub_repo(hub: Path, repo_id: str, files: dict, repo_type: str = "model") -> Path:
    """Files (name -> source path or bytes) as one snapshot of a repo, with refs/main pointing at it."""
    root = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = root / "snapshots" / commit
    for name, content in files.items():
        dest = snapshot / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, dest)
        else:
            dest.write_bytes(content)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return snapshot


def prose_documents(n: int) -> list[str]:
    text = lzma.decompress(CORPUS.read_bytes()).decode()
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]
    return paragraphs[:n]


def _tokenizer(docs: list[str], folder: Path):
    from conftest import tiny_bpe_tokenizer

    fast = tiny_bpe_tokenizer(" ".join(docs), 512)
    fast.save_pretrained(folder)
    return fast


def _gpt2(folder: Path, vocab: int) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=N_LAYERS, n_embd=D_MODEL, n_head=4, n_positions=N_CTX, vocab_size=vocab, bos_token_id=0,
                     eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(folder, safe_serialization=True)
    config = json.loads((folder / "config.json").read_text())
    config["n_ctx"] = N_CTX  # GPT-2's real config.json has it, and transformer_lens reads it
    (folder / "config.json").write_text(json.dumps(config))


def _release(hub: Path, build: Path, release: tuple, dataset: str) -> None:
    from conftest import build_sae

    repo, folder, hook, arch = release
    files = {}
    for layer in range(N_LAYERS):
        sae = build_sae(arch, D_MODEL, 256, hook.format(layer=layer), seed=layer)
        meta = sae.cfg.metadata
        meta.model_name, meta.context_size, meta.prepend_bos, meta.dataset_path = "gpt2-small", N_CTX, True, dataset
        out = build / repo / folder.format(layer=layer)
        sae.save_model(str(out))
        files.update({f"{folder.format(layer=layer)}/{p.name}": p for p in out.iterdir()})
    write_hub_repo(hub, repo, files)


def build_cache(home: Path, n_docs: int = 400) -> Path:
    """The whole cache under ``home`` (what HF_HOME points at); returns ``home``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub, build = home / "hub", home / "build"
    docs = prose_documents(n_docs)
    tokenizer = _tokenizer(docs, build / "gpt2")
    _gpt2(build / "gpt2", len(tokenizer))
    write_hub_repo(hub, "gpt2", {p.name: p for p in (build / "gpt2").iterdir()})
    for release in (RES_JB, V5_32K):
        _release(hub, build, release, "Skylion007/openwebtext")
    shard = build / "openwebtext.parquet"
    pq.write_table(pa.table({"text": docs}), shard)
    write_hub_repo(hub, "Skylion007/openwebtext", {"plain_text/train-00000-of-00001.parquet": shard}, "dataset")
    shutil.rmtree(build)
    return home


def use_cache(monkeypatch, home: Path) -> None:
    """Point this process at the cache and take it offline (HF_HUB_OFFLINE=1), as on a compute node.

    The hub libraries read HF_HOME once, at import, so their module constants are set too."""
    import datasets.config
    import huggingface_hub.constants as hub_constants

    from saeviz.model import hub

    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    for module in (hub_constants, datasets.config):
        monkeypatch.setattr(module, "HF_HUB_OFFLINE", True)
    hub.hub_reachable.cache_clear()
