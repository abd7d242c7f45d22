"""Which URL query parameters each page owns. A page's parameters (the tour's step, the feature browser's
latent) mean nothing on another page, so the app drops them when the user goes there."""

from __future__ import annotations

from collections.abc import MutableMapping

PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "Guided tour": ("demo", "step"),
    "Feature browser": ("site", "layer", "compression", "variant", "latent", "n"),
}


def drop_foreign_params(page_title: str, query_params: MutableMapping[str, str]) -> list[str]:
    """Remove the parameters ``page_title`` does not own from ``query_params``; returns their names."""
    keep = PAGE_PARAMS.get(page_title, ())
    foreign = [k for k in query_params if k not in keep]
    for k in foreign:
        del query_params[k]
    return foreign
