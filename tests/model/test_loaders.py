"""Model and SAE loading through saeviz: local checkpoints, sae_lens folders, and every error path."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import SAE_ARCHITECTURES

from saeviz.errors import CompatibilityError, LoadError
from saeviz.model.load import hook_sites, load_model, model_summary
from saeviz.sae.load import check_compatible, load_sae, sae_summary
from saeviz.specs import ModelSpec, SaeSpec


def test_local_gpt2_checkpoint_matches_transformers(gpt2_checkpoint):
    path, hf = gpt2_checkpoint
    model = load_model(ModelSpec(name=str(path), device="cpu"))
    tokens = torch.randint(0, hf.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(tokens), hf(tokens).logits
    # transformer_lens centres the unembedding, so compare logits up to a per-position constant.
    ours, theirs = ours - ours.mean(-1, keepdim=True), theirs - theirs.mean(-1, keepdim=True)
    assert torch.allclose(ours, theirs, atol=1e-4)
    summary = model_summary(model)
    assert (summary["layers"], summary["d_model"], summary["heads"]) == (2, 32, 4)
    assert model.to_string(model.to_tokens(" the cat", prepend_bos=False)[0]) == " the cat"
    sites = hook_sites(model)
    assert len(sites) == 6 and {s["width"] for s in sites} == {32}


def test_checkpoint_dir_without_config_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match="config.json"):
        load_model(ModelSpec(name=str(tmp_path), device="cpu"))


def test_missing_directory_and_unknown_name_are_clear_errors():
    with pytest.raises(LoadError, match="does not exist"):
        load_model(ModelSpec(name="./no/such/dir", device="cpu"))
    with pytest.raises(LoadError, match="transformer_lens model name"):
        load_model(ModelSpec(name="gpt-seventeen", device="cpu"))



def test_hub_model_offline_names_what_works(offline):
    with pytest.raises(LoadError, match="embedded") as info:
        load_model(ModelSpec(name="pythia-70m-deduped", device="cpu"))
    assert "\n" not in str(info.value)


def test_hub_sae_offline_and_bad_release_ids(offline):
    with pytest.raises(LoadError, match="embedded"):
        load_sae(SaeSpec.parse("gpt2-small-res-jb/blocks.8.hook_resid_pre"))
    with pytest.raises(LoadError, match="Did you mean gpt2-small-res-jb"):
        load_sae(SaeSpec.parse("gpt2-small-res-jbb/blocks.8.hook_resid_pre"))
    with pytest.raises(LoadError, match="no SAE 'blocks.99.hook_resid_pre'"):
        load_sae(SaeSpec.parse("gpt2-small-res-jb/blocks.99.hook_resid_pre"))


@pytest.mark.parametrize("arch", SAE_ARCHITECTURES)
def test_sae_folder_round_trip(arch, tmp_path, make_sae, tiny_model, tiny_tokens):
    sae = make_sae(arch, d_in=32, d_sae=64, hook_name="blocks.1.hook_resid_post")
    sae.save_model(tmp_path)
    loaded = load_sae(SaeSpec.parse(str(tmp_path)), device="cpu")
    assert type(loaded).__name__ == type(sae).__name__
    for name, param in sae.state_dict().items():
        assert torch.equal(param, loaded.state_dict()[name]), name
    summary = sae_summary(loaded)
    assert summary == {**summary, "site": "resid", "layer": 1, "d_in": 32, "d_sae": 64, "architecture": arch}
    check_compatible(tiny_model, loaded)
    _, cache = tiny_model.run_with_cache(tiny_tokens, names_filter=["blocks.1.hook_resid_post"])
    acts = cache["blocks.1.hook_resid_post"]
    assert torch.allclose(loaded(acts), sae(acts))


def test_attention_sae_reads_flattened_heads(tmp_path, make_sae, tiny_model, tiny_tokens):
    sae = make_sae("jumprelu", d_in=32, d_sae=64, hook_name="blocks.0.attn.hook_z")
    sae.save_model(tmp_path)
    loaded = load_sae(SaeSpec.parse(str(tmp_path)), device="cpu")
    check_compatible(tiny_model, loaded)
    _, cache = tiny_model.run_with_cache(tiny_tokens, names_filter=["blocks.0.attn.hook_z"])
    z = cache["blocks.0.attn.hook_z"]  # [batch, pos, head, d_head]
    feats = loaded.encode(z.flatten(-2))  # saeviz flattens heads itself
    assert feats.shape == (8, 16, 64)
    assert loaded.cfg.reshape_activations == "hook_z"
    assert torch.allclose(feats, sae.encode(z.flatten(-2)))
    assert torch.allclose(loaded.encode(z.flatten(-2)[0]), feats[0])  # a flat 2-D batch is not misread


def test_per_head_attention_sae_is_refused(make_sae, tiny_model):
    with pytest.raises(CompatibilityError, match="one head"):
        check_compatible(tiny_model, make_sae("standard", d_in=8, d_sae=16, hook_name="blocks.0.attn.hook_z"))


def test_width_and_hook_mismatches_say_what_to_change(make_sae, tiny_model):
    with pytest.raises(CompatibilityError, match="d_in=48 but"):
        check_compatible(tiny_model, make_sae("topk", d_in=48, d_sae=64, hook_name="blocks.0.hook_mlp_out"))
    with pytest.raises(CompatibilityError, match="does not have"):
        check_compatible(tiny_model, make_sae("topk", d_in=32, d_sae=64, hook_name="blocks.7.hook_mlp_out"))


def test_folder_without_sae_files_is_a_clear_error(tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"d_in": 3}))
    with pytest.raises(LoadError, match="sae_weights.safetensors missing"):
        load_sae(SaeSpec.parse(str(tmp_path)))


def test_sae_spec_parsing_errors():
    with pytest.raises(ValueError, match="RELEASE/SAE_ID"):
        SaeSpec.parse("just-a-release")
    with pytest.raises(ValueError, match="<site>/layer_<n>"):
        SaeSpec.parse("embedded/residual/3")
    assert SaeSpec.parse("embedded/mlp/layer_2").embedded_site_layer() == ("mlp", 2)


def test_core_package_never_imports_streamlit():
    code = (
        "import sys, saeviz, saeviz.model.load, saeviz.sae.load, saeviz.specs, saeviz.cli.main;"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'streamlit'];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
