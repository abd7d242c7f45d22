"""`python -m saeviz` end to end on a local GPT-2 checkpoint, local SAEs and a local token folder."""

import pandas as pd
import pytest
from conftest import build_sae

from saeviz.cli.main import main

HOOKS = {"attn": "blocks.{layer}.attn.hook_z", "mlp": "blocks.{layer}.hook_mlp_out", "resid": "blocks.{layer}.hook_resid_post"}


@pytest.fixture
def workspace(tmp_path, gpt2_checkpoint):
    path, hf = gpt2_checkpoint
    tokens = tmp_path / "tokens"
    (tmp_path / "text.txt").write_text("the cat sat on the mat while the dog ran in the park\n\n" * 200)
    assert main(["tokens", "--model", str(path), "--text", str(tmp_path / "text.txt"), "--out", str(tokens),
                 "--calibration", "8", "--eval", "8", "--train-tokens", "256", "--context-size", "16"]) == 0
    for site, hook in HOOKS.items():
        for layer in range(2):
            build_sae("jumprelu", 32, 64, hook.format(layer=layer)).save_model(tmp_path / "saes" / f"{site}_{layer}")
    return [
        "--model", str(path), "--tokens", str(tokens), "--sae-template", str(tmp_path / "saes" / "{site}_{layer}"),
        "--cache-dir", str(tmp_path / "cache"), "--n-calibration", "8", "--eval-sequences", "8", "--device", "cpu",
    ]


def test_compress_then_sweep_with_export(workspace, tmp_path, capsys):
    assert main(["compress", *workspace, "--method", "wanda", "--n-m", "2:4"]) == 0
    out = capsys.readouterr().out
    assert "W_in" in out and "dense" in out and "wanda-2:4" in out
    assert "0.5" in out  # 2:4 is exactly 50% in every matrix
    export = tmp_path / "rows.parquet"
    assert main(["sweep", *workspace, "--layers", "1", "--sae-sparsities", "0,0.25,0.5", "--export", str(export)]) == 0
    rows = pd.read_parquet(export)
    assert set(rows.dropna(subset=["site"])["variant"]) == {"dense", "pretrained", "pruned", "pruned_best"}
    assert "explained_variance" in capsys.readouterr().out


def test_prune_sae_saves_a_sae_lens_folder(workspace, tmp_path):
    out = tmp_path / "pruned"
    assert main(["prune-sae", *workspace, "--site", "mlp", "--layer", "0", "--sae-sparsity", "0.5", "--out", str(out)]) == 0
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(out))
    assert float((sae.W_enc == 0).float().mean()) == 0.5


@pytest.mark.parametrize("argv, message", [
    (["compress", "--n-m", "3:2"], "0 < N < M"),
    (["compress", "--sparsity", "1.5"], "fraction"),
    (["sweep", "--sites", "mlp,bogus"], "Sites ['bogus']"),
    (["info", "--model", "./missing-model-dir"], "does not exist"),
    (["sweep", "--layers", "99"], "The model has 4 layers (0-3): layer 99 is not one of them."),
    (["sweep", "--sae-template", "bogus/{nothing}", "--layers", "0"], "has a field other than {site} and {layer}"),
    (["sweep", "--sae-template", "/no/such/{site}_{layer}", "--layers", "0"], "SAE folder '/no/such/attn_0' does not exist"),
    (["sweep", "--tokens", "/no/such/tokens", "--layers", "0"], "Token set '/no/such/tokens' is neither 'embedded' nor a folder"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, *(["--cache-dir", str(tmp_path)] if argv[0] != "info" else [])]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert "CE" not in err and "model CE" not in captured.out  # refused before any work


def test_info_with_a_bad_model_says_so_first(capsys):
    assert main(["info", "--model", "./missing-model-dir"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "does not exist" in captured.err


def test_percentages_are_taken_where_fractions_are(capsys, tmp_path):
    from saeviz.cli.main import parse

    args = parse(["sweep", "--sae-sparsities", "25%,0.5", "--sparsity", "50%", "--tolerance", "10%"])
    assert args.sae_sparsities == (0.25, 0.5) and args.sparsity == 0.5 and args.tolerance == pytest.approx(0.1)


def test_a_corrupt_cache_file_is_named_with_the_way_out(capsys, tmp_path):
    (tmp_path / "saeviz.duckdb").write_bytes(b"not a database" * 100)
    assert main(["compress", "--compression", "dense", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'saeviz.duckdb'} is not a DuckDB database" in err and "mv " in err
    assert "finished work is kept" not in err


def test_info_reports_versions_device_and_verified_assets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "sae-lens: 6.54.12" in out and "GPU in use" in out and "cache:" in out
    checked = next(line for line in out.splitlines() if "embedded assets" in line)
    ok, total = checked.split()[2].split("/")
    assert ok == total and int(total) > 20  # every shipped file matches its manifest checksum


def test_delegating_commands_receive_their_leading_options():
    from saeviz.cli.main import parse

    assert parse(["build-embedded", "--stage", "model", "--out", "/x"]).rest == ["--stage", "model", "--out", "/x"]
    assert parse(["embedded-report"]).rest == []
    with pytest.raises(SystemExit):
        parse(["info", "--bogus"])  # other commands still refuse options they don't know


def test_a_compression_word_takes_its_calibration_from_the_flags():
    # before: `--compression wanda-50% --n-calibration 16` calibrated on 128 sequences, silently
    from saeviz.cli.main import build_parser
    from saeviz.cli.options import compress_spec
    from saeviz.specs import DENSE, CompressSpec

    parse = lambda *a: compress_spec(build_parser().parse_args(["sweep", *a]))  # noqa: E731
    got = parse("--compression", "wanda-50%", "--n-calibration", "16", "--not-sequential", "--damping", "0.1")
    assert got == CompressSpec(method="wanda", sparsity=0.5, n_calibration=16, sequential=False, damping=0.1)
    assert got == parse("--method", "wanda", "--sparsity", "0.5", "--n-calibration", "16", "--not-sequential", "--damping", "0.1")
    assert parse("--compression", "gptq-int4-g128") == CompressSpec.parse("gptq-int4-g128")  # the defaults: the same spec and cache key
    assert parse("--compression", "dense", "--n-calibration", "16") == DENSE
