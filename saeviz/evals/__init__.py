"""Evaluations of an SAE variant on a model variant, all behind one signature (``evals.base``): the
core metrics (``metrics``, ``measure``, ``splice``), sae_bench's core, absorption, RAVEL, SCR/TPP and
sparse probing. An evaluation is a pure function of its inputs: it never touches the cache.

``get_evaluation(name)`` imports an evaluation on first use (sae_bench is slow to import); the
registry lists the names the CLI, the report and the dashboard offer.

May import: sae/, model/, store/, embedded/ (the toy world), and below.
"""

from __future__ import annotations

from importlib import import_module

from saeviz.evals.base import Evaluation

# name -> "module:attribute" holding its Evaluation
EVALS: dict[str, str] = {
    "core": "saeviz.evals.core:EVALUATION",
    "sae_bench_core": "saeviz.evals.sae_bench_core:EVALUATION",
    "absorption": "saeviz.evals.absorption:EVALUATION",
    "ravel": "saeviz.evals.ravel:EVALUATION",
    "scr": "saeviz.evals.scr_tpp:SCR_EVALUATION",
    "tpp": "saeviz.evals.scr_tpp:TPP_EVALUATION",
    "probing": "saeviz.evals.probing:EVALUATION",
}


def get_evaluation(name: str) -> Evaluation:
    if name not in EVALS:
        raise ValueError(f"Unknown evaluation {name!r}: choose from {', '.join(EVALS)}.")
    module, _, attr = EVALS[name].partition(":")
    return getattr(import_module(module), attr)


def parse_eval_names(text: str) -> list[str]:
    """'core,ravel' -> ['core', 'ravel'] (validated); 'all' -> every evaluation but sae_bench's raw core."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return [n for n in EVALS if n != "sae_bench_core"]
    for name in names:
        get_evaluation(name)
    return names
