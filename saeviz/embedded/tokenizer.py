"""Byte-level BPE tokenizer, trained with Hugging Face `tokenizers`, saved as a transformers dir.

transformer_lens needs a tokenizer loaded through `AutoTokenizer.from_pretrained(dir)` (a
`PreTrainedTokenizerFast` built in memory fails inside HookedTransformer), and one BOS token to
prepend: `<|endoftext|>` is BOS, EOS and PAD, as in GPT-2, and also separates documents.
"""

from pathlib import Path

SPECIAL = "<|endoftext|>"
VOCAB_SIZE = 4096


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = VOCAB_SIZE) -> None:
    """Train on `texts` (order matters only through counts) and save a loadable directory."""
    # lazy: tokenizers is only needed to build the tokenizer; transformers takes seconds to import
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[SPECIAL],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL, eos_token=SPECIAL,
                                   pad_token=SPECIAL, unk_token=None)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))


def load_tokenizer(path: Path):
    # lazy: transformers takes seconds to import
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def encode_docs(tokenizer, docs: list[str]) -> list[list[int]]:
    """Token ids of each document, without special tokens (the packer adds separators)."""
    return tokenizer(docs, add_special_tokens=False)["input_ids"]
