"""Evaluation: synthetic photos with known truth, benchmarks and metrics."""

import logging


def log_progress_to_stderr(logger: logging.Logger) -> None:
    """A benchmark's own progress lines on stderr (``message`` only): the detector's libraries (absl) take
    over the root logger once they are imported, so the benchmark's logger gets its own handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
