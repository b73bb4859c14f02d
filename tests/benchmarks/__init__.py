"""Benchmarks, run by hand with ``python -m tests.benchmarks.<name>``; pytest skips them."""
