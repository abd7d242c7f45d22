"""Does the embedded model encode first letters? A linear probe at the word's token, on two vocabularies.

    .venv/bin/python -m benchmarks.letter_probe [--folds 3]

sae_bench's absorption needs a ground-truth first-letter probe with F1 >= 0.6 on >= 20 letters. On
every alphabetic token (sae_bench's vocabulary) the embedded model is at chance (see the absorption
eval's `probe_f1_*` rows). This checks the obvious data fix, the toy world's word list whose first
letters the model was taught ("The word apple starts with the letter A"): how many of those words are
single tokens, and how well a probe reads their first letter, per layer, with cross-validation.
"""

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from saeviz.embedded import toyworld_entities
from saeviz.evals import absorption
from saeviz.evals.probing import seeded
from saeviz.pipeline.workbench import Workbench
from saeviz.specs import ModelSpec, site_hook


def single_token_words(words: list[str], vocab: set[str]) -> list[str]:
    """The words the tokenizer holds as one token, with the leading space when it has that form."""
    return [v for w in words for v in ((" " + w) if (" " + w) in vocab else w,) if v in vocab]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    args = parser.parse_args()

    model = Workbench(ModelSpec()).base_model
    world = list(dict.fromkeys(toyworld_entities.WORDS))
    words = single_token_words(world, set(absorption.vocabulary(model.tokenizer)))
    spec = absorption.AbsorptionSpec()
    with seeded(spec.seed):  # the ICL examples are drawn at random, as in the eval
        prompts = absorption._prompts(words, words, spec)
    y = np.array([absorption.letter_of(w) for w in words])
    keep = np.isin(y, [c for c in set(y.tolist()) if (y == c).sum() >= args.folds])  # every fold sees the letter
    print(f"toy-world words: {len(world)}; single tokens: {len(words)}; letters with >= {args.folds} of them: "
          f"{len(set(y[keep].tolist()))}")
    for layer in range(model.cfg.n_layers):
        X = absorption.word_activations(model, site_hook("resid", layer), prompts, words, spec.prompt_token_pos,
                                        spec.llm_batch_size).numpy()
        folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
        pred = cross_val_predict(LogisticRegression(max_iter=2000), X[keep], y[keep], cv=folds)
        f1 = f1_score(y[keep], pred, average=None)
        print(f"resid layer {layer}: mean F1 {f1.mean():.3f}, letters >= 0.6: {int((f1 >= 0.6).sum())}")


if __name__ == "__main__":
    main()
