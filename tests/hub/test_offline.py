"""The local Hugging Face cache works offline: what is cached loads, what is missing is named."""

import pytest

from saeviz.errors import LoadError
from saeviz.model.load import load_model
from saeviz.sae.load import load_sae, sae_config
from saeviz.specs import ModelSpec, SaeSpec


def test_cached_model_and_release_load_offline(hf_cache):
    model = load_model(ModelSpec(name="gpt2-small", device="cpu"))
    assert (model.cfg.n_layers, model.cfg.d_model) == (2, 64)
    sae = load_sae(SaeSpec.parse("gpt2-small-res-jb/blocks.1.hook_resid_pre"), device="cpu")
    assert sae.cfg.metadata.hook_name == "blocks.1.hook_resid_pre" and sae.cfg.d_in == 64
    cfg = sae_config(SaeSpec.parse("gpt2-small-resid-post-v5-32k/blocks.0.hook_resid_post"))
    assert (cfg["hook_name"], cfg["context_size"], cfg["dataset_path"]) == ("blocks.0.hook_resid_post", 128, "Skylion007/openwebtext")


def test_missing_release_file_is_named(hf_cache):
    with pytest.raises(LoadError) as err:
        load_sae(SaeSpec.parse("gpt2-small-res-jb/blocks.5.hook_resid_pre"), device="cpu")
    message = str(err.value)
    assert "jbloom/GPT2-Small-SAEs-Reformatted" in message and "blocks.5.hook_resid_pre/cfg.json" in message
    assert "not in the local Hugging Face cache" in message


def test_missing_model_is_named(hf_cache):
    with pytest.raises(LoadError, match=r"pythia-70m.*repo EleutherAI/pythia-70m.*config\.json.*not in the local"):
        load_model(ModelSpec(name="pythia-70m", device="cpu"))


def test_a_pruned_checkpoint_of_a_hub_model_is_its_variant(hf_cache, tmp_path):
    # the hub base is loaded with LayerNorm folding and centring (from_pretrained's default): the
    # checkpoint's weights must be processed the same way, and its sparsity read as saved
    import glob

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from saeviz.pipeline.workbench import Workbench
    from saeviz.specs import CompressSpec
    from saeviz.store.db import Store

    snapshot = glob.glob(str(hf_cache) + "/hub/models--gpt2/snapshots/*")[0]
    hf = AutoModelForCausalLM.from_pretrained(snapshot).eval()
    with torch.no_grad():
        for block in hf.transformer.h:
            w = block.mlp.c_fc.weight  # Conv1D (d_model, d_mlp): prune half of each output's inputs by magnitude
            w.mul_(w.abs() >= w.abs().median(dim=0, keepdim=True).values)
    hf.save_pretrained(tmp_path / "pruned")
    AutoTokenizer.from_pretrained(snapshot).save_pretrained(tmp_path / "pruned")
    bench = Workbench(ModelSpec(name="gpt2-small", device="cpu"), Store(tmp_path / "cache"), tokens_source="embedded",
                      sae_template="gpt2-small-res-jb/blocks.{layer}.hook_resid_pre")
    spec = CompressSpec.parse(f"checkpoint:{tmp_path / 'pruned'}")
    variant = bench.compressed(spec)
    stats = bench.store.compress_stats(bench.compress_key(spec)).set_index(["layer", "matrix"])
    assert abs(stats.loc[(0, "W_in"), "sparsity"] - 0.5) < 0.02 and stats.loc[(0, "W_Q"), "sparsity"] == 0
    tokens = torch.randint(0, hf.config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = variant(tokens), hf(tokens).logits
    ours, theirs = ours - ours.mean(-1, keepdim=True), theirs - theirs.mean(-1, keepdim=True)
    assert torch.allclose(ours, theirs, atol=1e-4)
