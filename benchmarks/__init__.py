"""Benchmarks: each bench_*.py has main(argv) and prints a Markdown table; run.py runs them all."""
