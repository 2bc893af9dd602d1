"""Benchmarks of issue 8: one module per benchmark (``python -m bench.p4_recheck`` …), a shared
harness, the data generator and the smoke test. See ``docs/benchmarks.md``."""
