"""Building a token set: documents tokenized by the model's tokenizer, packed into rows of the SAE's
context length (BOS first where the SAE expects it), written split by split so that a cancelled or
killed build resumes after the last split it finished."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Iterator

import torch

from saeviz.errors import LoadError
from saeviz.jobs import Progress, report
from saeviz.sae.load import sae_config as read_sae_config
from saeviz.specs import ModelSpec, SaeSpec, TextSource, TokenSetSpec, spec_key
from saeviz.store.atomic import write_atomic
from saeviz.tokens import text as texts
from saeviz.tokens.fingerprint import fingerprint, tokenizer_for
from saeviz.tokens.tokenset import MANIFEST, SPLITS

FORMAT = 1
TOKENIZE_BATCH = 64  # documents per tokenizer call (the fast tokenizers batch in Rust)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A TokenSetSpec with every default resolved."""

    text: TextSource
    calibration_text: TextSource | None
    context_size: int
    prepend_bos: bool
    rows: dict  # split -> rows

    def describe(self) -> str:
        sizes = ", ".join(f"{n:,} {split}" for split, n in self.rows.items() if n)
        bos = "BOS first" if self.prepend_bos else "no BOS"
        return f"{sizes} rows of {self.context_size} tokens ({bos}) from {self.text.dataset}"


def plan(spec: TokenSetSpec, sae_config: dict | None = None) -> Plan:
    """Resolve the spec's unset fields from the SAE's config (sae_lens' dataset_path, context_size, prepend_bos)."""
    cfg = sae_config or {}
    text = spec.text
    if text is None:
        if not cfg.get("dataset_path"):
            raise LoadError("Say which text to tokenize (--text DATASET_OR_PATH): "
                            + ("the SAE's config names no training dataset." if spec.sae else "no --sae names a dataset to default to."))
        text = TextSource(dataset=str(cfg["dataset_path"]))
    context = spec.context_size or int(cfg.get("context_size") or 128)
    bos = spec.prepend_bos if spec.prepend_bos is not None else bool(cfg.get("prepend_bos", True))
    train_rows = -(-spec.train_tokens // context) if spec.train_tokens else 0
    return Plan(text, spec.calibration_text, context, bos,
                {"calibration": spec.n_calibration, "eval": spec.n_eval, "train": train_rows})


class Packer:
    """Rows of ``context`` tokens cut from documents joined by a separator token, in order."""

    def __init__(self, docs: Iterator[str], tokenizer, context: int, prepend_bos: bool, skip_docs: int = 0,
                 carry: list[int] | None = None):
        self.tokenizer, self.context, self.prepend_bos = tokenizer, context, prepend_bos
        self.bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.sep = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else self.bos
        if prepend_bos and self.bos is None:
            raise LoadError(f"Tokenizer {tokenizer.name_or_path!r} has no BOS (nor EOS) token: pass --no-bos.")
        self.docs = itertools.islice(docs, skip_docs, None)
        self.docs_used, self.buffer = skip_docs, list(carry or [])

    def take(self, n_rows: int, progress: Progress | None, label: str) -> torch.Tensor:
        body = self.context - 1 if self.prepend_bos else self.context
        rows, start = [], time.perf_counter()
        while len(rows) < n_rows:
            report(progress, len(rows), n_rows, f"{label}: {len(rows):,}/{n_rows:,} rows, {self.docs_used:,} documents "
                                                f"({time.perf_counter() - start:.0f} s)")
            while len(self.buffer) >= body and len(rows) < n_rows:
                rows.append(([self.bos] if self.prepend_bos else []) + self.buffer[:body])
                del self.buffer[:body]
            if len(rows) >= n_rows:
                break
            batch = list(itertools.islice(self.docs, TOKENIZE_BATCH))
            if not batch:
                raise LoadError(f"The text ran out after {len(rows):,} of {n_rows:,} {label} rows: give more text, "
                                "or ask for fewer rows (--calibration, --eval, --train-tokens); finished splits are kept.")
            self.docs_used += len(batch)
            for ids in self.tokenizer(batch, add_special_tokens=False)["input_ids"]:
                if ids:
                    self.buffer.extend([*ids, self.sep] if self.sep is not None else ids)
        return torch.tensor(rows, dtype=torch.int32).reshape(n_rows, self.context)


def build_token_set(spec: TokenSetSpec, out: Path, progress: Progress | None = None, sae_config: dict | None = None,
                    tokenizer=None) -> dict:
    """Write (or finish) the token set ``spec`` describes in ``out``; returns its manifest."""
    # lazy: safetensors loads only when this runs, so importing saeviz.tokens stays light
    from safetensors.torch import save_file

    out = Path(out).expanduser()
    if sae_config is None and spec.sae:
        sae_config = read_sae_config(SaeSpec.parse(spec.sae))
    p = plan(spec, sae_config)
    tokenizer = tokenizer or tokenizer_for(ModelSpec(name=spec.model))
    fp = fingerprint(tokenizer)
    key = spec_key(spec)
    manifest = _resume_state(out, key, fp.to_dict())
    out.mkdir(parents=True, exist_ok=True)
    total = sum(p.rows.values())
    done = sum(p.rows[s] for s in manifest["splits"])
    main = _packer(p.text, tokenizer, p, manifest.get("stream", {}))
    for split in SPLITS:
        n = p.rows[split]
        if split in manifest["splits"] or n == 0:
            continue
        own = split == "calibration" and p.calibration_text is not None
        packer = _packer(p.calibration_text, tokenizer, p, {}) if own else main
        step = (lambda d, t, m="", base=done: progress(base + d, total, m)) if progress else None
        rows = packer.take(n, step, split)
        path = out / f"{split}.safetensors"
        write_atomic(path, lambda tmp, rows=rows: save_file({"input_ids": rows.contiguous()}, str(tmp)))
        digest = hashlib.sha256(rows.numpy().tobytes()).hexdigest()[:16]
        manifest["splits"][split] = {"rows": n, "sha256": digest}
        if not own:
            manifest["stream"] = {"docs": main.docs_used, "carry": main.buffer}
        done += n
        _write_manifest(out, manifest)
    manifest.update(context_size=p.context_size, prepend_bos=p.prepend_bos,
                    source=texts.describe(p.text),
                    calibration_source=texts.describe(p.calibration_text) if p.calibration_text else None,
                    key=hashlib.sha256(json.dumps([fp.to_dict(), manifest["splits"]], sort_keys=True).encode()).hexdigest()[:16],
                    complete=True)
    manifest.pop("stream", None)
    _write_manifest(out, manifest)
    report(progress, total, total, "done")
    return manifest


def _packer(source: TextSource, tokenizer, p: Plan, stream: dict) -> Packer:
    return Packer(texts.documents(source), tokenizer, p.context_size, p.prepend_bos,
                  skip_docs=int(stream.get("docs", 0)), carry=stream.get("carry"))


def _resume_state(out: Path, key: str, tokenizer: dict) -> dict:
    """The partial manifest of an unfinished build of the same spec, else a fresh one; refuses to
    overwrite a different token set."""
    file = out / MANIFEST
    fresh = {"format": FORMAT, "spec_key": key, "tokenizer": tokenizer, "splits": {}}
    if not file.is_file():
        if out.is_dir() and any(out.glob("*.safetensors")):
            raise LoadError(f"{out} already holds .safetensors files but no {MANIFEST}: choose an empty folder for --out.")
        return fresh
    old = json.loads(file.read_text())
    if old.get("spec_key") == key and old.get("tokenizer") == tokenizer:
        return old
    raise LoadError(f"{out} holds another token set (built from other settings or another tokenizer): choose a new "
                    "folder for --out, or delete that one.")


def _write_manifest(out: Path, manifest: dict) -> None:
    write_atomic(out / MANIFEST, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1)))
