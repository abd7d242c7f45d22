"""`python -m saeviz bench --short`, as CI runs it: every part prints its figures and the two sweep paths agree."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_short_benchmark_prints_every_figure(tmp_path):
    out_json = tmp_path / "bench.json"
    env = {**os.environ, "SAEVIZ_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "saeviz", "bench", "--short", "--parts", "slider,sweep,retrain,wanda,scaling,memory,features", "--json", str(out_json)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for needle in ("cold (computed", "warm (read from the database)", "speed-up", "largest relative difference",
                   "retrain (", "wanda: embedded", "peak RSS", "evaluation sequences", "d_sae", "all parts", "floor: per unit", "pruning encodes",
                   "saeviz / floor", "CLI cold / floor", "over the loaded model"):
        assert needle in text, needle
    figures = json.loads(out_json.read_text())
    assert set(figures) == {"slider", "sweep", "retrain", "wanda", "scaling", "memory", "features"}  # ray: tests/cluster (on the suite's Ray)
    assert figures["memory"]["runs"][0]["peak_rss_mb"] > figures["memory"]["runs"][0]["rss_before_mb"] > 0
    assert figures["sweep"]["cli"]["wall_s"] > 0 and figures["sweep"]["cli_floor_ratio"] > 0
    assert figures["sweep"]["max_rel_diff"] <= 1e-4
    floor = figures["sweep"]["floor_parts"]
    parts = floor["sae_s"] + floor["after_hook_s"] + floor["unembed_s"] + floor["prune_encode_s"]
    assert floor["total_s"] > 0 and floor["prune_encode_s"] > 0 and abs(parts - floor["total_s"]) < 1e-9
    assert figures["sweep"]["floor_ratio"] == figures["sweep"]["ours_s"] / floor["total_s"]
    assert figures["wanda"]["embedded"]["seconds"] > 0 and figures["wanda"]["embedded"]["peak_rss_mb"] > 0
    print(text)  # the figures, in the test log


@pytest.mark.parametrize("arch", ["topk", "standard"])
def test_the_floor_times_the_saes_own_computation(arch, make_sae):
    # the floor must time the work the sweep really does: the same reconstruction as sae_lens' own
    import torch

    from saeviz.bench.floor import _sae_part

    sae = make_sae(arch, 16, 64, "blocks.0.hook_resid_post")
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(_sae_part(sae, x)(), sae.decode(sae.encode(x)), atol=1e-5)
        # and the pruning part: the squared norm of each latent, as saeviz.sae.prune.latent_norm
        from saeviz.bench.floor import _encode_part
        from saeviz.sae.prune import latent_norm

        assert torch.allclose(_encode_part(sae, x)(), latent_norm(sae, x).square(), rtol=1e-4, atol=1e-5)


def test_the_floor_counts_what_a_sweep_evaluates():
    from saeviz.bench.floor import FloorCounts
    from saeviz.pipeline.sweep import SweepSpec, unit_variants

    sparsities = (0.0, 0.25, 0.5, 0.9)
    counts = FloorCounts.of_sweep(sparsities, 16384)
    # pruned at 0% is the pretrained SAE (one cache identity, one run)
    evaluated = {v.cache_identity() for v in unit_variants(SweepSpec(sae_sparsities=sparsities)) if v.kind != "pruned_best"}
    assert counts.sae_points == len(evaluated) == 5 and counts.spliced_runs == 7 and counts.pruned == 3


def test_the_gemma_shaped_model_has_gemma_2s_blocks_and_every_matrix_is_compressible():
    # the GPU benchmark's Gemma-2-2B-shaped model, shrunk to one layer and a small vocabulary for the CPU
    import torch

    from saeviz.bench.parts import gemma2_2b_shaped
    from saeviz.compression.methods import check_supported, model_matrices
    from saeviz.specs import CompressSpec

    model = gemma2_2b_shaped(n_layers=1, d_vocab=512)
    cfg = model.cfg
    assert (cfg.d_model, cfg.d_mlp, cfg.n_heads, cfg.n_key_value_heads, cfg.d_head) == (2304, 9216, 8, 4, 256)
    assert cfg.output_logits_soft_cap == 30.0 and cfg.use_normalization_before_and_after and cfg.gated_mlp
    tokens = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(model(tokens)).all()
    # what the benchmark compresses: every matrix, W_gate with W_in (pruning it is tested on a tiny gated model)
    assert "W_gate" in model_matrices(cfg, CompressSpec().matrices)
    check_supported(model, model_matrices(cfg, CompressSpec().matrices))
