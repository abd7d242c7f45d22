"""The same specs give the same numbers, bit for bit, in two separate processes.

Each process (with its own cache folder and its own PYTHONHASHSEED, so that nothing may depend on
str hashing or set order) runs the paper's chain on the embedded default at a small size: WANDA
compression with layer-sequential calibration, the compressed model's CE, SAE pruning with WANDA
on activations of the compressed model, and a short SAE retraining through sae_lens. It prints
every float at full precision and a sha256 of every mask and weight; the two outputs must be equal.

Run by hand: `.venv/bin/python tests/system/test_determinism.py WORKDIR` prints one process's numbers.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def job(workdir: Path) -> dict:
    import torch

    from saeviz import embedded
    from saeviz.compression.methods import compress_model
    from saeviz.model.activations import collect_activations
    from saeviz.model.loss import ce_loss
    from saeviz.sae.load import load_sae
    from saeviz.sae.prune import apply_sae_masks, prune_sae
    from saeviz.sae.train import retrain_like
    from saeviz.specs import CompressSpec, SaePruneSpec, SaeSpec, TrainSpec, site_hook

    torch.set_num_threads(1)
    model = embedded.load_model(device="cpu")
    calib, evals = embedded.load_tokens("calibration")[:8], embedded.load_tokens("eval")[:8]
    compressed = compress_model(model, CompressSpec(method="wanda", sparsity=0.5, n_calibration=8), calib)
    hook = site_hook("resid", 1)
    sae = load_sae(SaeSpec.embedded("resid", 1), device="cpu")
    acts = collect_activations(compressed.model, hook, calib)
    pruned = apply_sae_masks(sae, prune_sae(sae, SaePruneSpec(sparsity=0.5, n_calibration_tokens=512), acts).masks)
    x = collect_activations(compressed.model, hook, evals)
    train = TrainSpec(training_tokens=4096, batch_size_tokens=512, checkpoints=1)
    retrained = retrain_like(sae, compressed.model, evals, train, workdir / "train").sae
    with torch.no_grad():
        mse = {name: float(((s.decode(s.encode(x)) - x) ** 2).mean()) for name, s in (("pruned", pruned), ("retrained", retrained))}
    return {
        "model_masks": _digest({f"{layer}.{m}": mask for (layer, m), mask in compressed.masks.items()}),
        "ce_compressed": repr(ce_loss(compressed.model, evals)),
        "sae_pruned": _digest(pruned.state_dict()),
        "sae_retrained": _digest(retrained.state_dict()),
        "mse": {k: repr(v) for k, v in mse.items()},
    }


def _start(tmp_path: Path, name: str, hash_seed: str) -> subprocess.Popen:
    workdir = tmp_path / name
    workdir.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "SAEVIZ_CACHE_DIR": str(workdir / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(Path(__file__)), str(workdir)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # two fresh processes each load torch, the model and sae_lens: ~35 s on 2 busy cores
def test_same_specs_same_numbers_in_two_processes(tmp_path):
    runs = [_start(tmp_path, "first", "1"), _start(tmp_path, "second", "2")]
    outputs = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    first, second = outputs
    assert first == second
    # the numbers are real results, not constants: pruning and retraining moved the SAE's error
    assert len(set(first["mse"].values())) == 2 and all(float(v) > 0 for v in first["mse"].values())


if __name__ == "__main__":
    print(json.dumps(job(Path(sys.argv[1]))))
