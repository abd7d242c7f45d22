"""The paper's published numbers (Gupte et al. 2025), as data, for side-by-side comparison.

Every table is Gemma-2-2B, layer 12, WANDA 50% (Gemma Scope JumpReLU SAEs; the "Trained" SAE was
trained on the pruned model). The embedded default is a 4-layer, 1.9 M-parameter model with TopK
SAEs: the *setting differs*, so these numbers are a reference for the direction of an effect, never
a target to match. ``paper_rows()`` returns tidy rows (table, model, layer, compression, eval, site,
item, metric, variant, value) with saeviz's metric names and variant labels (Trained -> retrained).

Transcribed verbatim from the paper's text, header order and all (the columns are in a different
order in almost every table). Two oddities of the paper are kept, not fixed: its appendix says
Tables 6, 7, 8 are "MLP, Attention, and Residual", but Table 1 (main text, explicit row labels)
shows Table 6's numbers under Attention and Table 7's under MLP; Table 1's labels are used here.
And Table 7's Pretrained column has ce_loss_without_sae 5.056 where the other columns read 3.125
(a different token set, as the README's notes on the paper's code say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

SETTING = {"model": "gemma-2-2b", "layer": 12, "compression": "wanda-50%"}
SETTING_NOTE = ("Paper: Gemma-2-2B, layer 12, WANDA 50%, Gemma Scope JumpReLU SAEs. "
                "A different model, layer and SAE family from the one shown: compare directions, not values.")
VARIANTS = {"pretrained": "pretrained", "pruned25": "pruned25", "pruned50": "pruned50", "trained": "retrained"}
COLUMNS = ["table", "model", "layer", "compression", "eval", "site", "item", "metric", "variant", "value"]

# row label in the paper -> saeviz's metric name, or (item, metric) (anything else: lower case, spaces -> _);
# the names are those saeviz.evals' absorption, scr_tpp and probing modules write
METRIC_NAMES = {
    "mean absorption fraction score": "mean_absorption_fraction", "mean full absorption score": "mean_full_absorption",
    "mean number of split features": "mean_num_split_features",
    "std dev absorption fraction score": "std_absorption_fraction", "std dev full absorption score": "std_full_absorption",
    "std dev number of split features": "std_num_split_features",
    "dir1": "scr_dir1", "metric": "scr_metric", "dir2": "scr_dir2",
    "total": "tpp_total", "intended": "tpp_intended", "unintended": "tpp_unintended",
    "overall": "sae_test_accuracy", "top 1": ("k=1", "sae_top_k_test_accuracy"),
    "top 2": ("k=2", "sae_top_k_test_accuracy"), "top 5": ("k=5", "sae_top_k_test_accuracy"),
}


@dataclass(frozen=True)
class PaperTable:
    """One published table: ``text`` is 'label | [k |] variant columns...' lines, header first."""

    table: str
    eval: str
    site: str
    text: str


def metric_name(label: str, item: str = "") -> tuple[str, str]:
    """(item, metric) of a paper row label: 'kl div score' -> ('', 'kl_div_score'), 'Top 1' -> ('k=1', ...)."""
    key = label.strip().lower()
    name = METRIC_NAMES.get(key, re.sub(r"\s+", "_", key))
    return name if isinstance(name, tuple) else (item, name)


def parse_table(t: PaperTable) -> list[dict]:
    """Tidy rows of one table. A 'k' column (SCR/TPP thresholds) becomes the item 'k=<n>'; RAVEL's
    tables carry their entity-attribute pair as an 'item' column already."""
    lines = [ln for ln in t.text.strip().splitlines() if ln.strip()]
    header = [h.strip().lower() for h in lines[0].split("|")]
    label_cols = [h for h in header if h not in VARIANTS]
    out = []
    for line in lines[1:]:
        cells = dict(zip(header, (c.strip() for c in line.split("|"))))
        item = f"k={cells['k']}" if "k" in cells else cells.get("item", "")
        item, metric = metric_name(cells[[c for c in label_cols if c not in ("k", "item")][0]], item)
        for column, variant in VARIANTS.items():
            out.append({"table": t.table, **SETTING, "eval": t.eval, "site": t.site, "item": item,
                        "metric": metric, "variant": variant, "value": float(cells[column])})
    return out


def paper_rows(eval_name: str | None = None, site: str | None = None) -> pd.DataFrame:
    """The paper's numbers as tidy rows, optionally for one evaluation and site."""
    rows = [r for t in TABLES if (eval_name is None or t.eval == eval_name) and (site is None or t.site == site)
            for r in parse_table(t)]
    return pd.DataFrame(rows, columns=COLUMNS)


def paper_wide(eval_name: str, site: str) -> pd.DataFrame:
    """One row per (item, metric), one column per variant, in the paper's row order."""
    rows = paper_rows(eval_name, site)
    if rows.empty:
        return pd.DataFrame(columns=["item", "metric", *VARIANTS.values()])
    wide = rows.pivot_table(index=["item", "metric"], columns="variant", values="value", sort=False).reset_index()
    wide.columns.name = None
    return wide[["item", "metric", *[v for v in VARIANTS.values() if v in wide.columns]]]


TABLES: list[PaperTable] = [
    PaperTable("Table 6 (attention; Table 1's labels)", "core", "attn", """
metric | pruned25 | pruned50 | trained | pretrained
kl div score | 0.821 | 0.775 | 0.824 | 0.852
kl div with ablation | 0.044 | 0.044 | 0.044 | 0.042
kl div with sae | 0.008 | 0.010 | 0.008 | 0.006
ce loss score | 1.000 | 0.667 | 1.000 | 0.862
ce loss with ablation | 3.172 | 3.172 | 3.172 | 3.166
ce loss with sae | 3.125 | 3.141 | 3.125 | 3.129
ce loss without sae | 3.125 | 3.125 | 3.125 | 3.124
explained variance | 0.793 | 0.727 | 0.859 | 0.802
explained variance legacy | 0.699 | 0.609 | 0.797 | 0.708
mse | 0.037 | 0.049 | 0.025 | 0.035
cossim | 0.891 | 0.855 | 0.930 | 0.893
l2 norm in | 19.000 | 19.000 | 19.000 | 18.945
l2 norm out | 17.375 | 16.375 | 16.625 | 17.148
l2 ratio | 0.914 | 0.855 | 0.875 | 0.903
relative reconstruction bias | 1.031 | 1.023 | 0.945 | 1.014
l0 | 95.782 | 88.855 | 2835.246 | 88.977
l1 | 103.500 | 94.000 | 189.000 | 98.862
freq over 1 percent | 0.114 | 0.099 | 0.708 | 0.091
freq over 10 percent | 0.009 | 0.008 | 0.532 | 0.010
normalized freq over 1 percent | 0.727 | 0.731 | 0.996 | 0.682
normalized freq over 10 percent | 0.348 | 0.339 | 0.954 | 0.378
average max encoder cosine sim | 0.172 | 0.179 | 0.409 | 0.171
average max decoder cosine sim | 0.288 | 0.285 | 0.355 | 0.288
frac alive | 0.963 | 0.960 | 1.000 | 0.963
"""),
    PaperTable("Table 7 (MLP; Table 1's labels)", "core", "mlp", """
metric | pruned50 | trained | pretrained | pruned25
kl div score | 0.604 | 0.502 | 0.777 | 0.714
kl div with ablation | 0.053 | 0.053 | 0.191 | 0.053
kl div with sae | 0.021 | 0.026 | 0.043 | 0.015
ce loss score | 0.667 | 0.667 | 0.848 | 0.667
ce loss with ablation | 3.172 | 3.172 | 5.248 | 3.172
ce loss with sae | 3.141 | 3.141 | 5.085 | 3.141
ce loss without sae | 3.125 | 3.125 | 5.056 | 3.125
explained variance | 0.539 | 0.750 | 0.631 | 0.633
explained variance legacy | 0.447 | 0.699 | 0.577 | 0.559
mse | 0.645 | 0.352 | 0.546 | 0.508
cossim | 0.730 | 0.867 | 0.787 | 0.789
l2 norm in | 52.750 | 52.750 | 54.276 | 52.750
l2 norm out | 34.500 | 44.000 | 42.296 | 40.000
l2 ratio | 0.656 | 0.832 | 0.776 | 0.758
relative reconstruction bias | 0.902 | 0.973 | 0.988 | 0.957
l0 | 61.989 | 4514.003 | 127.725 | 90.342
l1 | 170.000 | 720.000 | 334.119 | 243.000
freq over 1 percent | 0.041 | 0.998 | 0.126 | 0.071
freq over 10 percent | 0.007 | 0.902 | 0.013 | 0.008
normalized freq over 1 percent | 0.619 | 1.000 | 0.605 | 0.540
normalized freq over 10 percent | 0.308 | 0.981 | 0.268 | 0.237
average max encoder cosine sim | 0.149 | 0.184 | 0.162 | 0.158
average max decoder cosine sim | 0.158 | 0.220 | 0.163 | 0.163
frac alive | 0.994 | 1.000 | 0.994 | 0.994
"""),
    PaperTable("Table 8 (residual)", "core", "resid", """
metric | pruned50 | pretrained | pruned25 | trained
kl div score | 0.981 | 0.989 | 0.989 | 0.978
kl div with ablation | 10.125 | 10.125 | 10.125 | 10.125
kl div with sae | 0.189 | 0.114 | 0.112 | 0.219
ce loss score | 0.982 | 0.988 | 0.990 | 0.982
ce loss with ablation | 12.438 | 12.438 | 12.438 | 12.438
ce loss with sae | 3.297 | 3.234 | 3.219 | 3.297
ce loss without sae | 3.125 | 3.125 | 3.125 | 3.125
explained variance | 0.828 | 0.867 | 0.867 | 0.883
explained variance legacy | 0.664 | 0.734 | 0.730 | 0.773
mse | 2.156 | 1.680 | 1.703 | 1.492
cossim | 0.898 | 0.918 | 0.918 | 0.938
l2 norm in | 153.000 | 153.000 | 153.000 | 153.000
l2 norm out | 134.000 | 140.000 | 140.000 | 157.000
l2 ratio | 0.875 | 0.914 | 0.914 | 1.031
relative reconstruction bias | 0.980 | 0.996 | 1.000 | 1.094
l0 | 86.739 | 82.355 | 89.412 | 4658.510
l1 | 512.000 | 544.000 | 568.000 | 1824.000
freq over 1 percent | 0.145 | 0.133 | 0.155 | 0.887
freq over 10 percent | 0.002 | 0.002 | 0.002 | 0.811
normalized freq over 1 percent | 0.608 | 0.530 | 0.588 | 0.999
normalized freq over 10 percent | 0.093 | 0.088 | 0.081 | 0.989
average max encoder cosine sim | 0.136 | 0.141 | 0.140 | 0.295
average max decoder cosine sim | 0.270 | 0.278 | 0.277 | 0.347
frac alive | 0.999 | 0.999 | 0.999 | 1.000
"""),
    PaperTable("Table 4", "absorption", "mlp", """
Metric | Pretrained | Pruned25 | Pruned50 | Trained
Mean Absorption Fraction Score | 0.345 | 0.238 | 0.208 | 0.409
Mean Full Absorption Score | 0.041 | 0.038 | 0.024 | 0.001
Mean Number of Split Features | 1.269 | 1.192 | 1.192 | 1.154
Std Dev Absorption Fraction Score | 0.328 | 0.291 | 0.281 | 0.354
Std Dev Full Absorption Score | 0.065 | 0.055 | 0.026 | 0.002
Std Dev Number of Split Features | 0.533 | 0.491 | 0.634 | 0.368
"""),
    PaperTable("Table 5", "absorption", "resid", """
Metric | Pretrained | Pruned25 | Pruned50 | Trained
Mean Absorption Fraction Score | 0.106 | 0.106 | 0.111 | 0.355
Mean Full Absorption Score | 0.102 | 0.096 | 0.098 | 0.001
Mean Number of Split Features | 1.154 | 1.269 | 1.154 | 2.385
Std Dev Absorption Fraction Score | 0.103 | 0.105 | 0.111 | 0.229
Std Dev Full Absorption Score | 0.102 | 0.103 | 0.111 | 0.003
Std Dev Number of Split Features | 0.368 | 0.533 | 0.368 | 1.169
"""),
    PaperTable("Table 9", "scr", "mlp", """
metric | k | pruned50 | trained | pretrained | pruned25
dir1 | 2 | 0.097 | 0.011 | 0.160 | 0.134
metric | 2 | 0.019 | 0.001 | 0.023 | 0.025
dir2 | 2 | 0.015 | 0.001 | 0.035 | 0.035
dir1 | 5 | 0.094 | 0.016 | 0.160 | 0.124
metric | 5 | 0.028 | 0.001 | 0.047 | 0.039
dir2 | 5 | 0.033 | 0.001 | 0.045 | 0.042
dir1 | 10 | 0.093 | 0.012 | 0.146 | 0.115
metric | 10 | 0.030 | 0.009 | 0.058 | 0.046
dir2 | 10 | 0.036 | 0.002 | 0.070 | 0.064
dir1 | 20 | 0.112 | 0.003 | 0.174 | 0.124
metric | 20 | 0.035 | 0.010 | 0.072 | 0.057
dir2 | 20 | 0.055 | 0.002 | 0.082 | 0.082
dir1 | 50 | 0.072 | 0.011 | 0.216 | 0.157
metric | 50 | 0.050 | 0.009 | 0.104 | 0.091
dir2 | 50 | 0.077 | 0.008 | 0.147 | 0.129
dir1 | 100 | 0.078 | 0.024 | 0.228 | 0.140
metric | 100 | 0.048 | 0.004 | 0.133 | 0.101
dir2 | 100 | 0.098 | 0.017 | 0.206 | 0.183
dir1 | 500 | 0.007 | 0.049 | 0.184 | 0.043
metric | 500 | 0.077 | 0.057 | 0.185 | 0.151
dir2 | 500 | 0.109 | 0.133 | 0.203 | 0.204
"""),
    PaperTable("Table 10", "scr", "resid", """
metric | k | pruned50 | pretrained | pruned25 | trained
dir1 | 2 | 0.262 | 0.286 | 0.295 | 0.062
metric | 2 | 0.100 | 0.112 | 0.111 | 0.018
dir2 | 2 | 0.090 | 0.103 | 0.101 | 0.022
dir1 | 5 | 0.287 | 0.318 | 0.329 | 0.099
metric | 5 | 0.143 | 0.170 | 0.167 | 0.036
dir2 | 5 | 0.136 | 0.161 | 0.155 | 0.033
dir1 | 10 | 0.290 | 0.322 | 0.341 | 0.146
metric | 10 | 0.222 | 0.243 | 0.245 | 0.047
dir2 | 10 | 0.213 | 0.234 | 0.234 | 0.041
dir1 | 20 | 0.219 | 0.287 | 0.299 | 0.115
metric | 20 | 0.269 | 0.304 | 0.306 | 0.076
dir2 | 20 | 0.267 | 0.293 | 0.295 | 0.069
dir1 | 50 | 0.166 | 0.278 | 0.300 | 0.153
metric | 50 | 0.340 | 0.365 | 0.368 | 0.101
dir2 | 50 | 0.342 | 0.362 | 0.356 | 0.089
dir1 | 100 | 0.146 | 0.210 | 0.222 | 0.148
metric | 100 | 0.306 | 0.401 | 0.316 | 0.128
dir2 | 100 | 0.319 | 0.406 | 0.315 | 0.118
dir1 | 500 | 0.132 | 0.126 | 0.157 | 0.035
metric | 500 | 0.304 | 0.349 | 0.338 | 0.203
dir2 | 500 | 0.316 | 0.343 | 0.330 | 0.186
"""),
    PaperTable("Table 11", "tpp", "mlp", """
metric | k | pruned50 | trained | pretrained | pruned25
Total | 2 | 0.004 | 0.003 | 0.004 | 0.003
Intended | 2 | 0.005 | 0.004 | 0.006 | 0.005
Unintended | 2 | 0.001 | 0.001 | 0.002 | 0.002
Total | 5 | 0.010 | 0.004 | 0.012 | 0.012
Intended | 5 | 0.012 | 0.005 | 0.013 | 0.013
Unintended | 5 | 0.002 | 0.001 | 0.002 | 0.002
Total | 10 | 0.014 | 0.004 | 0.015 | 0.015
Intended | 10 | 0.016 | 0.005 | 0.018 | 0.018
Unintended | 10 | 0.002 | 0.001 | 0.003 | 0.003
Total | 20 | 0.026 | 0.007 | 0.029 | 0.029
Intended | 20 | 0.031 | 0.009 | 0.034 | 0.034
Unintended | 20 | 0.004 | 0.002 | 0.005 | 0.004
Total | 50 | 0.063 | 0.023 | 0.090 | 0.076
Intended | 50 | 0.069 | 0.027 | 0.098 | 0.084
Unintended | 50 | 0.006 | 0.004 | 0.009 | 0.008
Total | 100 | 0.115 | 0.069 | 0.168 | 0.145
Intended | 100 | 0.124 | 0.074 | 0.181 | 0.156
Unintended | 100 | 0.008 | 0.005 | 0.013 | 0.011
Total | 500 | 0.217 | 0.303 | 0.351 | 0.316
Intended | 500 | 0.236 | 0.343 | 0.383 | 0.342
Unintended | 500 | 0.019 | 0.039 | 0.032 | 0.026
"""),
    PaperTable("Table 12", "tpp", "resid", """
metric | k | pruned50 | pretrained | pruned25 | trained
Total | 2 | 0.007 | 0.008 | 0.008 | 0.008
intended | 2 | 0.010 | 0.011 | 0.011 | 0.010
Unintended | 2 | 0.003 | 0.003 | 0.002 | 0.002
Total | 5 | 0.012 | 0.015 | 0.014 | 0.011
Intended | 5 | 0.014 | 0.018 | 0.016 | 0.014
Unintended | 5 | 0.003 | 0.003 | 0.003 | 0.002
Total | 10 | 0.018 | 0.022 | 0.021 | 0.012
Intended | 10 | 0.022 | 0.026 | 0.025 | 0.019
Unintended | 10 | 0.004 | 0.004 | 0.004 | 0.006
Total | 20 | 0.041 | 0.046 | 0.047 | 0.028
Intended | 20 | 0.047 | 0.053 | 0.054 | 0.038
Unintended | 20 | 0.007 | 0.007 | 0.007 | 0.010
Total | 50 | 0.090 | 0.112 | 0.116 | 0.084
Intended | 50 | 0.097 | 0.121 | 0.124 | 0.097
Unintended | 50 | 0.008 | 0.009 | 0.008 | 0.013
Total | 100 | 0.157 | 0.201 | 0.213 | 0.171
Intended | 100 | 0.167 | 0.211 | 0.224 | 0.190
Unintended | 100 | 0.010 | 0.010 | 0.010 | 0.019
Total | 500 | 0.370 | 0.395 | 0.402 | 0.353
Intended | 500 | 0.387 | 0.412 | 0.420 | 0.423
Unintended | 500 | 0.017 | 0.016 | 0.018 | 0.070
"""),
    PaperTable("Table 13 (Table 2)", "ravel", "resid", """
item | metric | pretrained | pruned25 | pruned50 | trained
city.country | cause | 0.7051 | 0.6585 | 0.7690 | 0.8003
city.country | isolation | 0.4599 | 0.4673 | 0.4379 | 0.4833
city.country | disentanglement | 0.5825 | 0.5629 | 0.6034 | 0.6418
city.continent | cause | 0.3895 | 0.4129 | 0.4857 | 0.5884
city.continent | isolation | 0.8119 | 0.8228 | 0.7421 | 0.7558
city.continent | disentanglement | 0.6007 | 0.6179 | 0.6139 | 0.6721
city.language | cause | 0.5971 | 0.6004 | 0.6258 | 0.6118
city.language | isolation | 0.5359 | 0.5259 | 0.4874 | 0.5445
city.language | disentanglement | 0.5665 | 0.5631 | 0.5566 | 0.5781
person.country | cause | 0.6521 | 0.6683 | 0.5745 | 0.4255
person.country | isolation | 0.9324 | 0.9400 | 0.9135 | 0.8377
person.country | disentanglement | 0.7922 | 0.8042 | 0.7440 | 0.6316
person.field | cause | 0.7989 | 0.8056 | 0.7707 | 0.7411
person.field | isolation | 0.9471 | 0.9392 | 0.9352 | 0.8526
person.field | disentanglement | 0.8730 | 0.8724 | 0.8530 | 0.7969
person.gender | cause | 0.6084 | 0.6503 | 0.5221 | 0.5431
person.gender | isolation | 0.9486 | 0.9443 | 0.9251 | 0.8865
person.gender | disentanglement | 0.7785 | 0.7973 | 0.7236 | 0.7148
"""),
    PaperTable("Table 13 (Table 3)", "ravel", "mlp", """
item | metric | pretrained | pruned25 | pruned50 | trained
city.country | cause | 0.7270 | 0.5985 | 0.3322 | 0.0652
city.country | isolation | 0.3632 | 0.3391 | 0.3298 | 0.3244
city.country | disentanglement | 0.5451 | 0.4688 | 0.3310 | 0.1948
city.continent | cause | 0.5585 | 0.5299 | 0.4174 | 0.2055
city.continent | isolation | 0.6259 | 0.5431 | 0.4234 | 0.2469
city.continent | disentanglement | 0.5922 | 0.5365 | 0.4204 | 0.2262
city.language | cause | 0.4685 | 0.4090 | 0.2892 | 0.0964
city.language | isolation | 0.4807 | 0.4396 | 0.3951 | 0.3792
city.language | disentanglement | 0.4746 | 0.4243 | 0.3421 | 0.2378
person.country | cause | 0.2816 | 0.2089 | 0.1150 | 0.0833
person.country | isolation | 0.7846 | 0.7757 | 0.7644 | 0.7018
person.country | disentanglement | 0.5331 | 0.4923 | 0.4397 | 0.3926
person.field | cause | 0.5797 | 0.5367 | 0.4512 | 0.2905
person.field | isolation | 0.8321 | 0.8229 | 0.8083 | 0.7865
person.field | disentanglement | 0.7059 | 0.6798 | 0.6298 | 0.5385
person.gender | cause | 0.8625 | 0.8625 | 0.7972 | 0.4289
person.gender | isolation | 0.8051 | 0.7880 | 0.7366 | 0.6574
person.gender | disentanglement | 0.8338 | 0.8252 | 0.7669 | 0.5431
"""),
    PaperTable("Appendix A.7", "probing", "resid", """
Test Accuracy | Pretrained | Pruned25 | Pruned50 | Trained
Overall | 0.954 | 0.955 | 0.956 | 0.956
Top 1 | 0.768 | 0.768 | 0.762 | 0.748
Top 2 | 0.802 | 0.804 | 0.804 | 0.799
Top 5 | 0.869 | 0.871 | 0.869 | 0.851
"""),
    PaperTable("Appendix A.7", "probing", "mlp", """
Test Accuracy | Pretrained | Pruned25 | Pruned50 | Trained
Overall | 0.944 | 0.943 | 0.937 | 0.942
Top 1 | 0.661 | 0.712 | 0.703 | 0.712
Top 2 | 0.691 | 0.765 | 0.759 | 0.766
Top 5 | 0.750 | 0.835 | 0.822 | 0.829
"""),
]
