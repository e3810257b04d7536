"""Benchmarks, each run as ``python -m benchmarks.<name>`` from the repository root.

Results are written to ``benchmarks/results/<name>.json``.
"""
