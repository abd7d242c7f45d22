"""Shared fixtures: tiny in-process models and SAEs, built once per session, copied per test."""

import copy

import pytest
import torch


@pytest.fixture(scope="session")
def _tiny_model_master():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=100, n_ctx=16,
        act_fn="gelu", normalization_type="LN", seed=0, device="cpu",
    )
    model = HookedTransformer(cfg)
    model.eval()
    return model


@pytest.fixture
def tiny_model(_tiny_model_master):
    """A 2-layer d_model=32 HookedTransformer with random weights (a fresh copy per test)."""
    return copy.deepcopy(_tiny_model_master)


@pytest.fixture
def tiny_tokens():
    """8 sequences of 16 random token ids in the tiny model's vocabulary."""
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 100, (8, 16), generator=gen)


SAE_ARCHITECTURES = ("standard", "topk", "jumprelu")


def build_sae(arch: str, d_in: int, d_sae: int, hook_name: str, seed: int = 0, **cfg_kwargs):
    """A sae_lens SAE of the given architecture with random (non-trivial) weights."""
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    classes = {
        "standard": (StandardSAE, StandardSAEConfig, {}),
        "topk": (TopKSAE, TopKSAEConfig, {"k": 8}),
        "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig, {}),
    }
    sae_cls, cfg_cls, extra = classes[arch]
    meta = SAEMetadata(hook_name=hook_name, model_name="tiny", context_size=16, prepend_bos=True)
    sae = sae_cls(cfg_cls(d_in=d_in, d_sae=d_sae, metadata=meta, **{**extra, **cfg_kwargs}))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sae.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.1 + (0.05 if name == "threshold" else 0.0))
    return sae


@pytest.fixture
def make_sae():
    return build_sae


def tiny_bpe_tokenizer(text: str, vocab_size: int):
    """A byte-level BPE tokenizer trained here on one sentence, GPT-2 style (<|endoftext|> as BOS and EOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([text] * 40, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


@pytest.fixture(scope="session")
def gpt2_checkpoint(tmp_path_factory):
    """A tiny random GPT-2 written by transformers, with a BPE tokenizer trained here."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("gpt2ckpt")
    fast = tiny_bpe_tokenizer("the cat sat on the mat while the dog ran in the park", 320)
    fast.save_pretrained(path)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_positions=32, n_embd=32, n_layer=2, n_head=4))
    hf.save_pretrained(path)
    return path, hf.eval()


@pytest.fixture
def offline(monkeypatch):
    """No hub: HF_HUB_OFFLINE set, and the memoised reachability check forgotten before and after."""
    from saeviz.model import hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


@pytest.fixture(scope="session")
def _hf_cache_master(tmp_path_factory):
    from hub_cache import build_cache

    return build_cache(tmp_path_factory.mktemp("hf_home"))


@pytest.fixture
def hf_cache(_hf_cache_master, monkeypatch):
    """A local Hugging Face cache with GPT-2 (small, random), two of its SAE releases and OpenWebText text,
    this process pointed at it and offline (HF_HUB_OFFLINE=1), as on a cluster's compute node."""
    from hub_cache import use_cache

    use_cache(monkeypatch, _hf_cache_master)
    return _hf_cache_master
