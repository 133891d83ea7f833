"""Evaluation: synthetic photos with known truth, benchmarks and metrics."""
