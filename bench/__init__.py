"""Benchmarks: run with `make bench` (or `python -m bench --help`). They print figures; they assert nothing."""
