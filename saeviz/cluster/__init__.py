"""Running a sweep's units on a Ray cluster: each unit a frozen spec computed by a worker that keeps its
loaded models between units, its rows written by the driver alone (DuckDB's single writer).

May import: pipeline/ and everything below it. Imported by: cli/ (lazily: ray loads only with --ray).
"""
