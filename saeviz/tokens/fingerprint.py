"""A tokenizer's fingerprint: what must agree for token ids made by one tokenizer to mean the same to another."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from saeviz import embedded
from saeviz.errors import LoadError
from saeviz.model.hub import cache_only_when_offline, missing_from_cache
from saeviz.specs import ModelSpec


@dataclass(frozen=True)
class TokenizerFingerprint:
    name: str
    vocab_size: int
    vocab_hash: str
    bos: int | None
    eos: int | None

    def matches(self, other: "TokenizerFingerprint") -> bool:
        """Same ids for the same text: the vocabulary and the special tokens agree (the name may differ:
        gpt2 and openai-community/gpt2 are one tokenizer)."""
        return (self.vocab_hash, self.bos, self.eos) == (other.vocab_hash, other.bos, other.eos)

    def describe(self) -> str:
        return f"{self.name} (vocabulary {self.vocab_size:,}, hash {self.vocab_hash[:10]}, BOS {self.bos}, EOS {self.eos})"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TokenizerFingerprint":
        try:
            return cls(**{k: data[k] for k in ("name", "vocab_size", "vocab_hash", "bos", "eos")})
        except (KeyError, TypeError):
            raise LoadError(f"A token set's tokenizer fingerprint {data!r} lacks name/vocab_size/vocab_hash/bos/eos: "
                            "rebuild it with `python -m saeviz tokens`.") from None


def fingerprint(tokenizer) -> TokenizerFingerprint:
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    digest = hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()[:16]
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    if name.startswith(str(embedded.ASSETS_DIR)):  # not this machine's path: the embedded default's own tokenizer
        name = "embedded"
    return TokenizerFingerprint(name=name,
                                vocab_size=len(vocab), vocab_hash=digest,
                                bos=tokenizer.bos_token_id, eos=tokenizer.eos_token_id)


def tokenizer_for(model_spec: ModelSpec):
    """The tokenizer of the model a spec names, without loading the model (local cache when offline)."""
    if model_spec.is_embedded:
        return embedded.load_tokenizer()
    # lazy: transformers takes seconds to import
    from transformers import AutoTokenizer

    if model_spec.is_local_dir:
        path = Path(model_spec.name).expanduser()
        try:
            return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise LoadError(f"No usable tokenizer in {path} ({exc}): save it next to the weights (tokenizer.save_pretrained).") from None
    official = official_name(model_spec.name)
    with cache_only_when_offline():
        try:
            return AutoTokenizer.from_pretrained(official)
        except OSError as exc:
            raise missing_from_cache(f"The tokenizer of {model_spec.name!r} (repo {official})", exc) from None


def official_name(name: str) -> str:
    """The Hugging Face repo of a transformer_lens model name (gpt2-small -> gpt2)."""
    # lazy: transformer_lens takes seconds to import
    from transformer_lens.loading_from_pretrained import get_official_model_name

    try:
        return get_official_model_name(name)
    except ValueError:
        raise LoadError(f"{name!r} is neither a transformer_lens model name (e.g. gpt2-small, gemma-2-2b) nor an "
                        "existing checkpoint directory, nor 'embedded'.") from None
