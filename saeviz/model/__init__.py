"""The language model: loading it (embedded default, hub names, local checkpoints of five families),
weight-file safety, family converters, hook names and widths, activations at a hook, and its LM loss.

May import: the ground floor (specs, errors, device, jobs, resources), embedded/.
"""
