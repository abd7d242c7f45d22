"""Token sets from real text: built with the model's own tokenizer, as the SAE expects, and refused for
a model whose tokenizer differs."""

import json

import pytest
import torch

from saeviz.errors import CompatibilityError, LoadError
from saeviz.jobs import Cancelled
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import ModelSpec, TextSource, TokenSetSpec
from saeviz.store.db import Store
from saeviz.tokens.build import build_token_set
from saeviz.tokens.fingerprint import fingerprint, tokenizer_for
from saeviz.tokens.tokenset import load_split, manifest

RES_JB = "gpt2-small-res-jb/blocks.1.hook_resid_pre"


def test_defaults_come_from_the_sae_and_rows_are_tokenized_by_the_model(hf_cache, tmp_path):
    spec = TokenSetSpec(model="gpt2-small", sae=RES_JB, n_calibration=8, n_eval=6, train_tokens=1000)
    got = build_token_set(spec, tmp_path / "ts")
    assert got["source"]["dataset"] == "Skylion007/openwebtext"  # the release's training dataset, from its cfg
    assert got["context_size"] == 128 and got["prepend_bos"] is True
    assert {k: v["rows"] for k, v in got["splits"].items()} == {"calibration": 8, "eval": 6, "train": 8}
    tok = tokenizer_for(ModelSpec(name="gpt2-small"))
    assert got["tokenizer"] == fingerprint(tok).to_dict()
    rows = [load_split(str(tmp_path / "ts"), s) for s in ("calibration", "eval", "train")]
    assert all(r.shape[1] == 128 and (r[:, 0] == tok.bos_token_id).all() for r in rows)
    # the splits are disjoint stretches of one stream, and they decode back to the dataset's prose
    assert not any(torch.equal(rows[0][i], rows[1][j]) for i in range(8) for j in range(6))
    assert "the" in tok.decode(rows[1][0, 1:].tolist())


def test_local_files_and_a_cancelled_build_resumes(tmp_path):
    from hub_cache import prose_documents

    docs = prose_documents(60)
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"body": d}) + "\n" for d in docs))
    spec = TokenSetSpec(model="embedded", text=TextSource(dataset=str(tmp_path / "corpus.jsonl"), column="body"),
                        n_calibration=4, n_eval=4, train_tokens=0, context_size=32)
    calls = []

    def stop_in_eval(done, total, message=""):
        calls.append(message)
        return not message.startswith("eval")

    with pytest.raises(Cancelled):
        build_token_set(spec, tmp_path / "ts", stop_in_eval)
    assert (tmp_path / "ts" / "calibration.safetensors").is_file() and not (tmp_path / "ts" / "eval.safetensors").exists()
    first = load_split(str(tmp_path / "ts"), "calibration")
    whole = build_token_set(spec, tmp_path / "whole")
    resumed = build_token_set(spec, tmp_path / "ts")
    assert resumed["key"] == whole["key"]  # resuming after the calibration split gives the same set
    assert torch.equal(first, load_split(str(tmp_path / "ts"), "calibration"))
    with pytest.raises(LoadError, match="holds another token set"):
        build_token_set(TokenSetSpec(model="embedded", text=spec.text, n_eval=2, train_tokens=0), tmp_path / "ts")


def test_a_token_set_of_another_tokenizer_is_refused(hf_cache, tmp_path):
    store = Store(tmp_path / "cache")
    with pytest.raises(CompatibilityError, match=r"Token set 'embedded' was made by tokenizer .*but model 'gpt2-small' uses"):
        Workbench(ModelSpec(name="gpt2-small", device="cpu"), store).tokens("eval")
    spec = TokenSetSpec(model="gpt2-small", sae=RES_JB, n_calibration=2, n_eval=2, train_tokens=0)
    build_token_set(spec, tmp_path / "gpt2")
    assert manifest(str(tmp_path / "gpt2"))["tokenizer"]["vocab_size"] == 512
    with pytest.raises(CompatibilityError, match="but model 'embedded' uses"):
        Workbench(ModelSpec(name="embedded"), store, tokens_source=str(tmp_path / "gpt2")).tokens("calibration")
    assert Workbench(ModelSpec(name="gpt2-small", device="cpu"), store,
                     tokens_source=str(tmp_path / "gpt2")).tokens("eval").shape == (2, 128)


def test_a_folder_without_manifest_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"input_ids": torch.zeros(2, 4, dtype=torch.int32)}, str(tmp_path / "eval.safetensors"))
    with pytest.raises(LoadError, match="no tokens.json, so nothing says which tokenizer"):
        load_split(str(tmp_path), "eval")


def test_a_hub_dataset_is_streamed_when_the_hub_is_reachable(tmp_path, monkeypatch):
    """The online path: datasets' streaming reader, here on its packaged json builder and a local shard
    (what `--text allenai/c4 --text-files en/c4-train.00000-of-01024.json.gz` streams from the hub)."""
    from saeviz.tokens import text

    shard = tmp_path / "shard.jsonl"
    shard.write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(5)))
    monkeypatch.setattr(text, "hub_reachable", lambda: True)
    docs = list(text.documents(TextSource(dataset="json", data_files=(str(shard),))))
    assert docs == [f"document {i}" for i in range(5)]
    assert text.resolve_alias(TextSource(dataset="c4")).data_files == ("en/c4-train.00000-of-01024.json.gz",)
