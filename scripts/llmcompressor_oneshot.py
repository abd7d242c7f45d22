"""Run inside the scratch environment that scripts/llmcompressor_reference.py makes (llm-compressor's own
pins): compress a Hugging Face export of the embedded model with llm-compressor's WANDA, SparseGPT and
GPTQ on saeviz's calibration tokens, and save each result as llm-compressor saves it.

usage: python llmcompressor_oneshot.py EXPORT_DIR CALIBRATION.safetensors OUT_DIR
"""

import sys
from pathlib import Path

import torch
from datasets import Dataset
from llmcompressor import oneshot
from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

IGNORE = ["re:.*lm_head"]
RECIPES = {
    "wanda-50%": lambda: WandaPruningModifier(sparsity=0.5, mask_structure="0:0", ignore=IGNORE),
    "sparsegpt-50%": lambda: SparseGPTModifier(sparsity=0.5, mask_structure="0:0", ignore=IGNORE),
    "sparsegpt-2:4": lambda: SparseGPTModifier(sparsity=0.5, mask_structure="2:4", ignore=IGNORE),
    # act-order off and a min/max observer: the settings saeviz's gptq-int4-g128-sym uses
    "gptq-int4-g128": lambda: GPTQModifier(scheme="W4A16", targets="Linear", ignore=IGNORE, actorder=None),
    "rtn-int8-channel": lambda: QuantizationModifier(scheme="W8A16", targets="Linear", ignore=IGNORE),
    "fp8-channel": lambda: QuantizationModifier(scheme="FP8_DYNAMIC", targets="Linear", ignore=IGNORE),
}


def main(export_dir: str, calibration: str, out_dir: str, only: list[str]) -> None:
    ids = load_file(calibration)["input_ids"].long()
    data = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()})
    for name, recipe in RECIPES.items():
        if only and name not in only:
            continue
        model = AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(export_dir)
        oneshot(model=model, dataset=data, recipe=recipe(), num_calibration_samples=len(ids), max_seq_length=ids.shape[1],
                shuffle_calibration_samples=False, pipeline="sequential")
        target = Path(out_dir) / name
        model.save_pretrained(str(target), save_compressed=True)
        tokenizer.save_pretrained(str(target))
        print(f"saved {name} -> {target}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
