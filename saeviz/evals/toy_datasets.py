"""Toy-world datasets in sae_bench's format, so that SCR, TPP and sparse probing run offline.

sae_bench reads `LabHC/bias_in_bios`: rows with a biography (``hard_text``), a profession id and a
gender id, from which its own functions build the SCR quadrants (`get_spurious_corr_data`) and the
gender-balanced profession classes (`get_balanced_dataset`). Here the rows are biographies of the
embedded toy world (`saeviz.embedded.toyworld.biography`), drawn with the world's planted
profession/gender correlation (0.9 in the shipped world), under a dataset name registered in
sae_bench's `dataset_info.dataset_metadata`, and handed to those same functions. Everything is
seeded: the same world, sizes and seed give the same texts.
"""

from __future__ import annotations

import random

import pandas as pd

from saeviz.embedded.toyworld import biography
from saeviz.errors import SaevizError

TOY_BIOS = "saeviz/toyworld_bios"
# sae_bench's bias_in_bios ids: male 0, female 1; SCR's column2 pair is (male, female).
GENDER_IDS = {"male": 0, "female": 1}
SCR_GENDERS = ("male", "female")
# SCR pairs: (male-coded profession, female-coded profession), the roles of sae_bench's
# (professor, nurse): the probe learns profession on data where gender predicts it perfectly.
DEFAULT_SCR_PAIRS = (("engineer", "nurse"), ("pilot", "teacher"), ("carpenter", "librarian"),
                     ("mechanic", "dancer"))
DEFAULT_CLASSES = ("nurse", "teacher", "engineer", "pilot", "librarian")
# Draws allowed per requested row of the rarest cell before giving up (a world with correlation
# 1.0 has no male nurse at all, and SCR needs some).
_MAX_DRAWS_PER_ROW = 200


def professions(world: dict) -> list[str]:
    """The biography professions of a world, sorted: their index is the profession id."""
    bios = world["biographies"]
    return sorted(set(bios["female_coded_professions"]) | set(bios["male_coded_professions"]))


def register(world: dict) -> None:
    """Describe TOY_BIOS to sae_bench's loaders (column names and id mappings, as for bias_in_bios)."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils import dataset_info

    dataset_info.dataset_metadata[TOY_BIOS] = {
        "text_column_name": "hard_text",
        "column1_name": "profession",
        "column2_name": "gender",
        "column2_autointerp_name": "gender",
        "column1_mapping": {p: i for i, p in enumerate(professions(world))},
        "column2_mapping": dict(GENDER_IDS),
    }


def bios_frame(world: dict, split: str, per_cell: int, seed: int) -> pd.DataFrame:
    """Biographies drawn from the world until every (profession, gender) cell holds ``per_cell`` rows.

    Rows keep the world's distribution (the stopping rule only decides how many are drawn), so the
    stereotypical cells hold about correlation / (1 - correlation) times more rows than the others.
    """
    if per_cell < 1:
        raise ValueError(f"per_cell={per_cell} must be at least 1.")
    ids = {p: i for i, p in enumerate(professions(world))}
    rng = random.Random(f"toy-bios-{seed}-{split}")
    counts = {(p, g): 0 for p in ids for g in GENDER_IDS}
    rows, missing, max_draws = [], len(counts), _MAX_DRAWS_PER_ROW * per_cell * len(counts)
    while missing:
        if len(rows) >= max_draws:
            short = sorted(f"{g} {p}" for (p, g), n in counts.items() if n < per_cell)
            raise SaevizError(f"The toy world's biographies almost never contain {', '.join(short[:3])}: lower "
                              f"the world's bio_correlation below 1, or ask for smaller train/test sets.")
        bio = biography(world, rng)
        cell = (bio["profession"], bio["gender"])
        counts[cell] += 1
        missing -= counts[cell] == per_cell
        rows.append((bio["text"], ids[bio["profession"]], GENDER_IDS[bio["gender"]]))
    return pd.DataFrame(rows, columns=["hard_text", "profession", "gender"])


def _sizes_ok(train_size: int, test_size: int) -> None:
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size < 8:
            raise ValueError(f"{name}={size}: use at least 8 (sae_bench splits a set into 4 quadrants of size // 4).")


def scr_texts(world: dict, pair: tuple[str, str], train_size: int, test_size: int,
              seed: int) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """sae_bench's SCR data for one profession pair: six keys ('male / female', 'female_data_only',
    'professor / nurse', 'nurse_data_only', 'male_professor / female_nurse', 'female_nurse_data_only'),
    each size // 2 texts, where 'professor' is pair[0] and 'nurse' pair[1]."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.evals.scr_and_tpp.dataset_creation import get_spurious_corr_data
    from sae_bench.sae_bench_utils.dataset_utils import ensure_shared_keys

    _sizes_ok(train_size, test_size)
    unknown = [p for p in pair if p not in professions(world)]
    if unknown or pair[0] == pair[1]:
        raise ValueError(f"SCR pair {pair}: use two different professions among {professions(world)}.")
    register(world)
    out = []
    for split, size in (("train", train_size), ("test", test_size)):
        # get_spurious_corr_data wants more than 2 * (size // 4) rows in the two stereotypical cells
        frame = bios_frame(world, split, 2 * (size // 4) + 1, seed)
        out.append(get_spurious_corr_data(frame, pair, SCR_GENDERS, TOY_BIOS, size // 4, seed))
    return ensure_shared_keys(*out)


def class_texts(world: dict, classes: tuple[str, ...], train_size: int, test_size: int,
                seed: int) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """sae_bench's multi-class data (TPP, sparse probing): per profession, size // 2 texts balanced by
    gender (`get_balanced_dataset`), keyed by profession name."""
    # lazy: sae_bench takes seconds to import
    from sae_bench.sae_bench_utils.dataset_utils import ensure_shared_keys, get_balanced_dataset

    _sizes_ok(train_size, test_size)
    ids = {p: i for i, p in enumerate(professions(world))}
    unknown = [c for c in classes if c not in ids]
    if unknown or len(set(classes)) < 2:
        raise ValueError(f"classes {classes}: name at least two different professions among {sorted(ids)}.")
    register(world)
    out = []
    for split, size in (("train", train_size), ("test", test_size)):
        frame = bios_frame(world, split, size // 4, seed)
        balanced = get_balanced_dataset(frame, TOY_BIOS, size // 4, seed)
        out.append({c: balanced[str(ids[c])] for c in classes})
    return ensure_shared_keys(*out)
