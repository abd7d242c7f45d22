"""Errors a user can act on: one sentence that says what went wrong and what to do instead."""


class SaevizError(Exception):
    """Base class: the CLI prints the message alone (no traceback) and exits non-zero."""


class LoadError(SaevizError):
    """A model or SAE could not be loaded (unknown name, bad directory, no network)."""


class CompatibilityError(SaevizError):
    """An SAE does not fit the model it is applied to."""


OFFLINE_HINT = (
    "Offline, saeviz works with the embedded default (model 'embedded', SAEs 'embedded/<site>/layer_<n>') "
    "and with local directories (a Hugging Face checkpoint for the model, a sae_lens SAE folder)."
)


class ResourceError(SaevizError):
    """A request would not fit in memory: refused before it starts, saying what to change."""


class UnsafePathError(SaevizError):
    """A path a user typed points outside the folder it must stay in, or cannot be written."""


class UnsafeWeightsError(LoadError):
    """Weights offered as a pickle (*.bin, *.pt, *.pth, ...): refused, never unpickled."""
