"""Run inside a scratch environment with gptqmodel (scripts/llmcompressor_reference.py makes it): quantize a
Hugging Face export of the embedded model with GPTQModel's GPTQ and AWQ on saeviz's calibration tokens and
save each in its library's own packed format (qweight/qzeros/scales[/g_idx]).

usage: python gptqmodel_quantize.py EXPORT_DIR CALIBRATION.safetensors OUT_DIR [NAME ...]
"""

import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def configs():
    from gptqmodel import QuantizeConfig
    from gptqmodel.quantization import FORMAT, METHOD

    return {
        "gptq-int4-g32-asym": lambda: QuantizeConfig(bits=4, group_size=32, sym=False, desc_act=False),
        "gptq-int4-g32-act": lambda: QuantizeConfig(bits=4, group_size=32, sym=True, desc_act=True),
        "awq-int4-g32": lambda: QuantizeConfig(bits=4, group_size=32, sym=False, quant_method=METHOD.AWQ, format=FORMAT.GEMM),
    }


def main(export_dir: str, calibration: str, out_dir: str, only: list[str]) -> None:
    from gptqmodel import GPTQModel

    ids = load_file(calibration)["input_ids"].long()
    rows = [{"input_ids": r.unsqueeze(0), "attention_mask": torch.ones(1, r.shape[0], dtype=torch.long)} for r in ids]
    for name, make in configs().items():
        if only and name not in only:
            continue
        model = GPTQModel.load(export_dir, make(), device="cpu")
        model.quantize(rows, batch_size=1)
        target = Path(out_dir) / name
        model.save(str(target))
        write_library_dequant(target)
        print(f"saved {name} -> {target}", flush=True)


def write_library_dequant(target: Path) -> None:
    """The library's own dequantization of the first and last block's packed layers, for the tests to match."""
    import json

    from gptqmodel import GPTQModel
    from safetensors.torch import save_file

    qc = json.loads((target / "config.json").read_text())["quantization_config"]
    if qc["quant_method"] == "awq":
        # GPTQModel's fused AWQ layers repack for their kernel; its AWQ unpacker reads the saved tensors
        from gptqmodel.quantization.awq.utils.packing_utils import dequantize_gemm

        state = load_file(str(target / "model.safetensors"))
        n_layers = json.loads((target / "config.json").read_text())["num_hidden_layers"]
        out = {}
        for name in [k[: -len(".qweight")] for k in state if k.endswith(".qweight")]:
            if "layers.0." in name or f"layers.{n_layers - 1}." in name:
                w = dequantize_gemm(state[name + ".qweight"], state[name + ".qzeros"], state[name + ".scales"],
                                    qc["bits"], qc["group_size"])
                out[name + ".weight"] = w.float().T.contiguous()
        save_file(out, str(target / "library_dequant.safetensors"))
        return
    loaded = GPTQModel.load(str(target), device="cpu", dtype=torch.float32)
    layers = loaded.model.model.decoder.layers
    out = {}
    for index in (0, len(layers) - 1):
        for name, module in layers[index].named_modules():
            if hasattr(module, "dequantize_weight") and hasattr(module, "qweight"):
                w = module.dequantize_weight().float()
                # GPTQModel returns (d_in, d_out); saeviz compares nn.Linear's (d_out, d_in)
                out[f"model.decoder.layers.{index}.{name}.weight"] = w.T.contiguous() if w.shape[0] == module.in_features else w.contiguous()
    save_file(out, str(target / "library_dequant.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
