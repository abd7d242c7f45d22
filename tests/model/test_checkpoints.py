"""Compressed checkpoints written by the real libraries (GPTQModel 7.7, llm-compressor 0.14; see
scripts/compression_fixtures.py) read as dense models, as variants of their base, and refused in one
sentence when broken; saeviz's own Hugging Face export round-trips."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from saeviz import embedded
from saeviz.compression.methods import weight_param
from saeviz.errors import LoadError
from saeviz.model.checkpoint import _dequantized_state
from saeviz.model.export import export_hf
from saeviz.model.load import load_local_checkpoint
from saeviz.specs import PRUNABLE_MATRICES, CompressSpec, ModelSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compressed"


@pytest.fixture(scope="module")
def base():
    return embedded.load_model()


@pytest.mark.parametrize("name", ["gptqmodel-gptq-int4-g32-asym", "gptqmodel-gptq-int4-g32-act", "gptqmodel-awq-int4-g32"])
def test_packed_weights_unpack_as_the_library_does(name):
    folder = FIXTURES / name
    qc = json.loads((folder / "config.json").read_text())["quantization_config"]
    ours = _dequantized_state(folder, qc, qc["quant_method"])
    library = load_file(str(folder / "library_dequant.safetensors"))  # GPTQModel's own dequantization
    assert len(library) == 12
    for key, expected in library.items():
        if qc["quant_method"] == "gptq":  # the library's float32 result, stored as float16
            assert torch.equal(ours[key].half(), expected), key
        else:  # GPTQModel's AWQ unpacker computes (q - z) * s in float16 itself: a few float16 steps apart
            assert torch.allclose(ours[key], expected.float(), atol=2e-3), key
    if "act" in name:  # act-order: groups are permuted, so g_idx is not sorted
        g_idx = load_file(str(folder / "model.safetensors"))["model.decoder.layers.0.fc1.g_idx"]
        assert not torch.equal(g_idx, g_idx.sort().values)


@pytest.mark.parametrize("name,worst", [("gptqmodel-gptq-int4-g32-asym", 0.15), ("gptqmodel-awq-int4-g32", 0.3),
                                        ("llmcompressor-gptq-int4-g128", 0.2), ("llmcompressor-fp8-channel", 0.05)])
def test_quantized_checkpoints_load_close_to_their_base(name, worst, base):
    model = load_local_checkpoint(FIXTURES / name, process=False)
    for layer in range(base.cfg.n_layers):
        for matrix in PRUNABLE_MATRICES:
            ours, ref = weight_param(model, layer, matrix), weight_param(base, layer, matrix)
            error = ((ours - ref).abs().mean() / ref.abs().mean()).item()
            assert 0 < error < worst, (layer, matrix, error)
    if "int4" in name and "awq" not in name:  # at most 16 levels per group of 32 (or 128) inputs
        w_in = weight_param(model, 0, "W_in").detach().T  # (d_mlp, d_model) rows of nn.Linear
        assert max(len(torch.unique(row[:32])) for row in w_in) <= 16


def test_checkpoint_variant_through_the_cli(tmp_path, capsys):
    from saeviz.cli.main import main

    folder = FIXTURES / "llmcompressor-gptq-int4-g128"
    args = ["compress", "--compression", f"checkpoint:{folder}", "--device", "cpu", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "checkpoint: llmcompressor-gptq-int4-g128" in out and "quant_error per layer" in out
    dense, comp = [float(x.split()[0]) for x in out.split("dense ")[1:2] + out.split("llmcompressor-gptq-int4-g128 ")[-1:]]
    assert dense < comp < dense * 1.02  # int4 with the base's unembedding bias: close to dense, not equal


def _broken(tmp_path, edit) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(FIXTURES / "gptqmodel-gptq-int4-g32-asym", folder)
    edit(folder)
    return folder


def test_unknown_quantization_and_missing_tensors_are_one_sentence(tmp_path):
    def bnb(folder):
        config = json.loads((folder / "config.json").read_text())
        config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
        (folder / "config.json").write_text(json.dumps(config))

    with pytest.raises(LoadError, match="'bitsandbytes'.*compressed-tensors, gptq, awq") as info:
        load_local_checkpoint(_broken(tmp_path / "a", bnb))
    assert "\n" not in str(info.value)

    def drop_scales(folder):
        state = load_file(str(folder / "model.safetensors"))
        del state["model.decoder.layers.1.fc2.scales"]
        save_file(state, str(folder / "model.safetensors"))

    with pytest.raises(LoadError, match=r"missing model\.decoder\.layers\.1\.fc2\.scales"):
        load_local_checkpoint(_broken(tmp_path / "b", drop_scales))


def test_a_checkpoint_of_another_model_is_refused_and_nothing_cached(tmp_path, base):
    from saeviz.pipeline.workbench import Workbench
    from saeviz.store.db import Store

    export = export_hf(base, tmp_path / "three-layers")
    config = json.loads((export / "config.json").read_text())
    (export / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))  # another model's shape
    store = Store(tmp_path / "cache")
    bench = Workbench(ModelSpec(name="embedded", device="cpu"), store)
    spec = CompressSpec.parse(f"checkpoint:{export}")
    with pytest.raises(LoadError, match="does not match the base model"):
        bench.compressed(spec)
    assert store.compress_stats(bench.compress_key(spec)).empty


def test_export_round_trips_and_transformers_loads_it(tmp_path, base):
    from transformers import AutoModelForCausalLM

    folder = export_hf(base, tmp_path / "export")
    tokens = embedded.load_tokens("eval")[:4].long()
    with torch.no_grad():
        ref = base(tokens)
        back = load_local_checkpoint(folder)(tokens)
        hf = AutoModelForCausalLM.from_pretrained(str(folder)).eval()(tokens).logits
    assert (back - ref).abs().max() <= 1e-5
    # transformers' OPT has no unembedding bias: everything else is the same model
    assert (hf + base.unembed.b_U - ref).abs().max() < 1e-4
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["OPTForCausalLM"]
