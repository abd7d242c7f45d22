"""Sparse autoencoders: loading (embedded, sae_lens releases, folders), pruning an SAE's own weights,
sparse (TopK) kernels, retraining on a compressed model, and the variants the paper compares
(VariantSpec, the PrunedBest rule).

May import: model/, store/ (atomic writes), and below.
"""
