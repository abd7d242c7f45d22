"""Compressing a model: a registry of methods (WANDA, magnitude, N:M, RTN) over pure tensor math
(``compression.math``), applying stored masks, and the per-matrix report.

May import: the ground floor only (it addresses a model's matrices and inputs by hook name).
"""
