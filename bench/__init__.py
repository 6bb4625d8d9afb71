"""Reproducible benchmarks; each module prints its figures and says how docs/benchmarks.md records them."""
