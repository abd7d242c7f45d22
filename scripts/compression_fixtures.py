"""Write tests/fixtures/compressed/: the embedded model compressed by the maintained libraries.

llm-compressor (WANDA, SparseGPT, GPTQ, int8 and fp8 in compressed-tensors format) and GPTQModel
(GPTQ and AWQ in their packed formats) cannot be saeviz dependencies (their pins conflict with ours),
so each gets a scratch virtual environment here, and runs on a Hugging Face export of the embedded
model (`python -m saeviz export-hf`) with saeviz's own calibration tokens. The tests then compare
saeviz's methods and loaders with what these libraries wrote.

usage: .venv/bin/python scripts/compression_fixtures.py [--scratch /tmp/saeviz-scratch]
Needs the package registries (pip); takes about 10 minutes on 2 cores, most of it installing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "compressed"
ENVS = {
    "llmcompressor": ["torch==2.13.0", "llmcompressor==0.14.0.1"],
    "gptqmodel": ["torch==2.14.1", "gptqmodel==7.7.0", "datasets"],
}
# fixture name -> (library, the library's own name for the run)
LLMC = ["wanda-50%", "sparsegpt-50%", "sparsegpt-2:4", "gptq-int4-g128", "fp8-channel"]
GPTQMODEL = ["gptq-int4-g32-asym", "gptq-int4-g32-act", "awq-int4-g32"]


def _venv(scratch: Path, name: str) -> Path:
    python = scratch / name / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(scratch / name)], check=True)
        for requirement in ENVS[name]:  # torch first, so that the library takes the CPU build on this disk
            subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True,
                           env={"BUILD_CUDA_EXT": "0", "PATH": "/usr/bin:/bin"})
    return python


def _export(work: Path) -> tuple[Path, Path]:
    from safetensors.torch import save_file

    from saeviz import embedded
    from saeviz.model.export import export_hf

    export = export_hf(embedded.load_model(), work / "export")
    calibration = work / "calibration.safetensors"
    save_file({"input_ids": embedded.load_tokens("calibration").contiguous()}, str(calibration))
    return export, calibration


def _shrink(folder: Path) -> None:
    """float32 tensors that are not quantization parameters to float16, so that the fixtures stay small
    (packed integers and their scales stay as the library wrote them)."""
    import torch
    from safetensors.torch import load_file, save_file

    for file in folder.glob("*.safetensors"):
        state = load_file(str(file))
        keep_exact = ("weight_scale", "weight_zero_point", "weight_packed", "weight_shape", "qweight", "qzeros", "scales", "g_idx")
        small = {k: (v.half() if v.dtype == torch.float32 and not k.endswith(keep_exact) else v) for k, v in state.items()}
        save_file(small, str(file), metadata={"format": "pt"})
    for extra in ("recipe.yaml", "quant_log.csv", "generation_config.json"):
        (folder / extra).unlink(missing_ok=True)


def _masks(folder: Path, out: Path) -> None:
    """A pruned checkpoint as bit-packed keep-masks of its Linear weights (all the WANDA test needs)."""
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    packed = {k: torch.from_numpy(np.packbits((v != 0).numpy().reshape(-1))) for k, v in state.items() if _is_block_linear(k)}
    shapes = {k + ".shape": torch.tensor(state[k].shape) for k in packed}
    save_file({**packed, **shapes}, str(out))


def _matrices(folder: Path, out: Path) -> None:
    """A pruned checkpoint's Linear weights in float16 (zeros stay zeros): what the SparseGPT test compares."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v.half().contiguous() for k, v in state.items() if _is_block_linear(k)}, str(out))


def _is_block_linear(name: str) -> bool:
    return "layers" in name and name.endswith(("proj.weight", "fc1.weight", "fc2.weight"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", default="/tmp/saeviz-scratch", type=Path)
    args = parser.parse_args()
    work = args.scratch / "work"
    work.mkdir(parents=True, exist_ok=True)
    export, calibration = _export(work)
    scripts = ROOT / "scripts"
    subprocess.run([str(_venv(args.scratch, "llmcompressor")), str(scripts / "llmcompressor_oneshot.py"),
                    str(export), str(calibration), str(work / "llmc"), *LLMC], check=True)
    subprocess.run([str(_venv(args.scratch, "gptqmodel")), str(scripts / "gptqmodel_quantize.py"),
                    str(export), str(calibration), str(work / "gptqmodel"), *GPTQMODEL], check=True,
                   env={"GPTQMODEL_CPU_WORKERS": "4", "PATH": "/usr/bin:/bin"})
    shutil.rmtree(FIXTURES, ignore_errors=True)
    FIXTURES.mkdir(parents=True)
    _masks(work / "llmc" / "wanda-50%", FIXTURES / "llmcompressor-wanda-50%.masks.safetensors")
    for name in ("sparsegpt-50%", "sparsegpt-2:4"):
        _matrices(work / "llmc" / name, FIXTURES / f"llmcompressor-{name}.matrices.safetensors")
    for name in ("gptq-int4-g128", "fp8-channel"):
        shutil.copytree(work / "llmc" / name, FIXTURES / f"llmcompressor-{name}")
    for name in GPTQMODEL:
        shutil.copytree(work / "gptqmodel" / name, FIXTURES / f"gptqmodel-{name}")
    for folder in FIXTURES.iterdir():
        if folder.is_dir():
            _shrink(folder)
    _manifest()
    print(f"fixtures written to {FIXTURES}")


def _manifest() -> None:
    import json

    from saeviz import embedded

    (FIXTURES / "manifest.json").write_text(json.dumps({
        "embedded_fingerprint": embedded.fingerprint(), "libraries": ENVS,
        "command": ".venv/bin/python scripts/compression_fixtures.py"}, indent=1) + "\n")


if __name__ == "__main__":
    main()
