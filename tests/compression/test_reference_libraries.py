"""saeviz's WANDA, SparseGPT and GPTQ against llm-compressor's on the same model and calibration tokens.

The fixtures were written by llm-compressor 0.14 itself (scripts/compression_fixtures.py) on a Hugging
Face export of the embedded model, with the embedded calibration split.
"""

import json
from pathlib import Path

import pytest
import torch

from saeviz import embedded
from saeviz.compression.methods import SITES, apply_weights, compress_model, weight_param
from saeviz.model.export import opt_linear_name
from saeviz.model.loss import ce_loss
from saeviz.specs import PRUNABLE_MATRICES, CompressSpec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compressed"


@pytest.fixture(scope="module")
def world():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    assert manifest["embedded_fingerprint"] == embedded.fingerprint(), (
        "The embedded model was rebuilt after the library fixtures were written: regenerate them with "
        f"`{manifest['command']}`.")
    model = embedded.load_model()
    return model, embedded.load_tokens("calibration"), embedded.load_tokens("eval")[:64].long()


def _theirs(model, state: dict) -> dict:
    """{(layer, matrix): parameter in transformer_lens orientation} from OPT-named nn.Linear weights."""
    out = {}
    for layer in range(model.cfg.n_layers):
        for matrix in PRUNABLE_MATRICES:
            param = weight_param(model, layer, matrix)
            out[(layer, matrix)] = SITES[matrix].from_linear(state[opt_linear_name(layer, matrix)].float(), param.shape)
    return out


def _unpack_masks(path: Path) -> dict:
    import numpy as np
    from safetensors.torch import load_file

    state = load_file(str(path))
    masks = {}
    for name, bits in state.items():
        if not name.endswith(".shape"):
            shape = tuple(state[name + ".shape"].tolist())
            masks[name] = torch.from_numpy(np.unpackbits(bits.numpy())[: shape[0] * shape[1]].astype(bool)).reshape(shape)
    return masks


def test_wanda_masks_agree_with_llmcompressor(world):
    model, calibration, _ = world
    ours = compress_model(model, CompressSpec.parse("wanda-50%"), calibration)
    theirs = _theirs(model, _unpack_masks(FIXTURES / "llmcompressor-wanda-50%.masks.safetensors"))
    for (layer, matrix), keep in theirs.items():
        assert abs(keep.float().mean().item() - 0.5) < 0.01  # the library really pruned half
        agree = ((weight_param(ours.model, layer, matrix) != 0) == keep.bool()).float().mean().item()
        assert agree >= 0.99, f"layer {layer} {matrix}: masks agree on {agree:.2%} of weights"


@pytest.mark.parametrize("label", ["sparsegpt-50%", "sparsegpt-2:4"])
def test_sparsegpt_reaches_llmcompressors_loss(world, label):
    from safetensors.torch import load_file

    model, calibration, tokens = world
    ours = compress_model(model, CompressSpec.parse(label), calibration).model
    theirs = apply_weights(model, _theirs(model, load_file(str(FIXTURES / f"llmcompressor-{label}.matrices.safetensors"))))
    ce_ours, ce_theirs, ce_dense = ce_loss(ours, tokens), ce_loss(theirs, tokens), ce_loss(model, tokens)
    assert ce_theirs > ce_dense + 0.02  # the fixture is really pruned
    assert abs(ce_ours - ce_theirs) / ce_theirs < 0.01, (ce_ours, ce_theirs)


def test_gptq_reaches_llmcompressors_loss(world):
    # llm-compressor's int4 grid is [-8, 7] x absmax/7.5, saeviz's [-7, 7] x absmax/7 (RTN's, so that GPTQ
    # and RTN differ only in error feedback): the losses may differ by that, well within 1%.
    from saeviz.model.load import load_local_checkpoint

    model, calibration, tokens = world
    ours = compress_model(model, CompressSpec.parse("gptq-int4-g128"), calibration)
    loaded = load_local_checkpoint(FIXTURES / "llmcompressor-gptq-int4-g128", process=False)
    theirs = apply_weights(model, {(l, m): weight_param(loaded, l, m).detach() for l in range(4) for m in PRUNABLE_MATRICES})
    rtn = compress_model(model, CompressSpec.parse("rtn-int4-g128"), calibration).model
    ce_ours, ce_theirs = ce_loss(ours.model, tokens), ce_loss(theirs, tokens)
    assert abs(ce_ours - ce_theirs) / ce_theirs < 0.01, (ce_ours, ce_theirs)
    assert ce_ours < ce_loss(rtn, tokens)  # error feedback beats plain rounding on the same grid
    assert all(r.quant_error > 0 for r in ours.reports)
