"""The cache: DuckDB (the only SQL), cache keys as pure functions of specs (``keys``), atomic writes, safe
cache paths, and the shipped demo rows served under the same keys.

May import: embedded/ (its fingerprint), compression/ and the ground floor.
"""
