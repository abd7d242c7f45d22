"""The embedded default: a small LM, its tokenizer, SAEs and token data, shipped in the repo.

Everything here loads from `ASSETS_DIR` without touching the network. Heavy libraries
(transformer_lens, sae_lens, transformers) are imported inside the functions that need them, so
that importing this package stays cheap. This package only reads the assets (and the toy world they
were made from); they are produced by ``saeviz.embedded_build`` (`python -m saeviz build-embedded`).

May import: the ground floor (specs) only.
"""

import hashlib
import json
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
from saeviz.specs import SITE_HOOKS, site_hook  # noqa: E402  (one definition of the paper's three sites)

TOKEN_SPLITS = ("calibration", "eval")


def sae_dir(site: str, layer: int, assets: Path = ASSETS_DIR) -> Path:
    site_hook(site, layer)  # validates the site
    return assets / "saes" / site / f"layer_{layer}"


def available_saes(assets: Path = ASSETS_DIR) -> list[tuple[str, int]]:
    """(site, layer) pairs with a saved SAE, in SITE_HOOKS order then by layer."""
    out = []
    for site in SITE_HOOKS:
        root = assets / "saes" / site
        layers = sorted(int(p.name.split("_")[1]) for p in root.glob("layer_*") if (p / "cfg.json").exists())
        out += [(site, layer) for layer in layers]
    return out


def load_tokenizer(assets: Path = ASSETS_DIR):
    # lazy: transformers takes seconds to import
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(assets / "tokenizer"))


def load_model(device: str = "cpu", assets: Path = ASSETS_DIR):
    """The embedded HookedTransformer, in eval mode, weights as trained (no LN folding)."""
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded stays light; transformer_lens takes
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = json.loads((assets / "model" / "config.json").read_text())
    # The training seed would make HookedTransformerConfig reseed torch's global RNG on every
    # load, and weight init is wasted work before load_state_dict: drop both.
    cfg = {k: v for k, v in cfg.items() if k != "seed"}
    model = HookedTransformer(HookedTransformerConfig(**cfg, init_weights=False, device=device),
                              tokenizer=load_tokenizer(assets), move_to_device=False)
    model.load_state_dict(load_file(str(assets / "model" / "model.safetensors")))
    return model.to(device).eval()


def load_tokens(split: str, assets: Path = ASSETS_DIR):
    """[n_seq, 128] int32 token rows, each led by BOS: split "calibration" (128 rows) or "eval"."""
    if split not in TOKEN_SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {TOKEN_SPLITS}")
    # lazy: safetensors loads only when this runs, so importing saeviz.embedded stays light
    from safetensors.torch import load_file

    return load_file(str(assets / "data" / f"{split}.safetensors"))["input_ids"]


def n_layers(assets: Path = ASSETS_DIR) -> int:
    return int(json.loads((assets / "model" / "config.json").read_text())["n_layers"])


def load_toyworld(assets: Path = ASSETS_DIR) -> dict:
    return json.loads((assets / "data" / "toyworld.json").read_text())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_assets(assets: Path = ASSETS_DIR) -> dict[str, bool]:
    """{relative path: checksum matches} for every file the manifest lists (False if missing)."""
    manifest = json.loads((assets / "manifest.json").read_text())
    return {rel: (assets / rel).is_file() and sha256(assets / rel) == digest
            for rel, digest in manifest["files"].items()}


def fingerprint(assets: Path = ASSETS_DIR) -> str:
    """A short hash of every shipped file's checksum: changes whenever the assets are rebuilt."""
    manifest = assets / "manifest.json"
    files = json.loads(manifest.read_text()).get("files", {}) if manifest.is_file() else {}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def is_built(assets: Path = ASSETS_DIR) -> bool:
    """True when the manifest exists and every file it lists is present (checksums not read)."""
    manifest = assets / "manifest.json"
    if not manifest.is_file():
        return False
    files = json.loads(manifest.read_text()).get("files", {})
    return bool(files) and all((assets / rel).is_file() for rel in files)
