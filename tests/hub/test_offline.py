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
