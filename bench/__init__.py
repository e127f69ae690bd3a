"""Benchmarks: scripts that print tables. Run them with ``.venv/bin/python -m bench.NAME``."""
