"""A training run's curve: loss and held-out scores against steps, as a picture.

``python -m uvatar.train.curve RUN [-o RUN/curve.png] [--smooth 50]`` reads ``RUN/log.jsonl`` (written by
``uvatar train``: one line per logged step, one ``{"validation": ...}`` line per validation) and draws two
panels: the training loss (each logged step, faint, and its running mean over ``--smooth`` logged
steps) and the validation subjects' masked PSNR of the input, side and back views with the validation
loss. A resumed run's log holds every step once per run that logged it; the last line of a step wins.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from uvatar.errors import InputError
from uvatar.io.atomic import atomic_path

__all__ = ["read_log", "running_mean", "plot_curve", "main"]

VALIDATION_SCORES = ("psnr_input", "psnr_side", "psnr_back")


def read_log(path: str | Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """``log.jsonl`` -> (training rows by step, validation rows by step); later lines replace earlier ones.

    Raises:
        InputError: no such file, a line that is not a JSON object, or no training step at all.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no training log at {path}; pass the run folder written by 'uvatar train'")
    train, validation = {}, {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number} is not JSON ({exc.msg}); is this a 'uvatar train' log.jsonl?") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number} is not a JSON object; is this a 'uvatar train' log.jsonl?")
        if isinstance(row.get("validation"), dict) and "step" in row["validation"]:
            validation[int(row["validation"]["step"])] = row["validation"]
        elif "step" in row and "loss" in row:
            train[int(row["step"])] = row
    if not train:
        raise InputError(f"{path} holds no training step; is this a 'uvatar train' log.jsonl?")
    return dict(sorted(train.items())), dict(sorted(validation.items()))


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """``(N,)`` -> ``(N,)``: the mean of each value and up to ``window - 1`` values before it."""
    values = np.asarray(values, dtype=np.float64)
    if window < 1:
        raise InputError(f"the running mean's window must be at least 1; got {window}")
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)


def plot_curve(run_dir: str | Path, out: str | Path | None = None, smooth: int = 50) -> Path:
    """Draw ``run_dir``'s curve (module docstring) into ``out`` (default ``run_dir/curve.png``); returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    train, validation = read_log(run_dir / "log.jsonl")
    steps = np.array(list(train))
    loss = np.array([row["loss"] for row in train.values()], dtype=np.float64)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    left.plot(steps, loss, color="tab:blue", alpha=0.25, linewidth=0.7, label="loss (each logged step)")
    left.plot(steps, running_mean(loss, smooth), color="tab:blue", linewidth=1.8, label=f"running mean ({smooth} logged steps)")
    if validation:
        v_steps = np.array(list(validation))
        left.plot(v_steps, [row.get("loss", np.nan) for row in validation.values()], "o-", color="tab:red", label="validation loss")
        for name, color in zip(VALIDATION_SCORES, ("tab:green", "tab:orange", "tab:purple"), strict=True):
            right.plot(v_steps, [row.get(name, np.nan) for row in validation.values()], "o-", color=color, label=name.replace("psnr_", "") + " view")
        subjects = next(iter(validation.values())).get("subjects", "?")
        right.set_title(f"held-out subjects ({subjects}): masked PSNR")
    else:
        right.text(0.5, 0.5, "no validation in this log", ha="center", va="center", transform=right.transAxes)
    left.set(xlabel="step", ylabel="loss", title=f"training loss: {run_dir.name}")
    right.set(xlabel="step", ylabel="PSNR in the mask (dB)")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    figure.tight_layout()
    out = Path(out) if out is not None else run_dir / "curve.png"
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="run folder written by 'uvatar train' (holds log.jsonl)")
    parser.add_argument("-o", "--out", default=None, help="PNG to write (default RUN/curve.png)")
    parser.add_argument("--smooth", type=int, default=50, help="running-mean window, in logged steps")
    args = parser.parse_args(argv)
    try:
        path = plot_curve(args.run, args.out, args.smooth)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
