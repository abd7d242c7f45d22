"""`python -m saeviz bench`: the benchmark's parts (each timed against its reference in one run) and the
command that prints their figures.

May import: pipeline/, report/ and below.
"""
