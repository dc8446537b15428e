"""Benchmarks: `make bench` runs every bench/bench_*.py and prints ratios measured side by side."""
