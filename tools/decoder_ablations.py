"""Collect the decoder ablations into one Markdown table (docs/decoder.md, "Ablations").

Each row is one training run: its ``uvatar eval`` folder (held-out synthetic subjects) and, optionally,
its self-reenactment folder (``python -m uvatar.eval.reenact ... --decoder RUN``) on the real clip::

    python tools/decoder_ablations.py \\
        "2 layers, synthetic only=out/abl/eval-depth2:out/abl/reenact-depth2" \\
        "8 layers=out/abl/eval-depth8:out/abl/reenact-depth8" ...

Prints the table (PSNR dB / SSIM / ST-LPIPS of the ``all`` row for the input view and the unseen side and
back views, then the reenactment mean PSNR / SSIM and the copy-source reference) and the parameter
count of each run's decoder.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def _cell(group: dict) -> str:
    values = (group.get("psnr"), group.get("ssim"), group.get("lpips"))
    if any(v is None or not math.isfinite(v) for v in values):
        return "-"
    return f"{values[0]:.2f} / {values[1]:.3f} / {values[2]:.3f}"


def _parameters(eval_result: dict, body) -> str:
    config = eval_result["config"].get("decoder_config")
    if not config:
        return "-"
    from uvatar.model.mae import DecoderConfig, UVDecoder, count_parameters

    model = UVDecoder.from_body(DecoderConfig.from_dict(config), body)
    return f"{count_parameters(model) / 1e6:.2f}M"


def table(rows: list[tuple[str, Path, Path | None]]) -> str:
    """Markdown table of ``(label, eval folder, reenact folder or None)`` rows."""
    from uvatar.body.model import load_body_model

    body = load_body_model()
    lines = [
        "| run | parameters | subjects | input PSNR / SSIM / ST-LPIPS | side (unseen) | back (unseen) | real clip reenactment PSNR / SSIM (frames) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, eval_dir, reenact_dir in rows:
        result = json.loads((eval_dir / "eval.json").read_text())
        summary = result["summary"]["all"]
        reenact = "-"
        if reenact_dir is not None:
            r = json.loads((reenact_dir / "reenact.json").read_text())["summary"]
            reenact = f"{r['psnr']:.2f} / {r['ssim']:.3f} ({r['frames']})"
        cells = [_cell(summary[g]) for g in ("input", "side", "back")]
        lines.append(f"| {label} | {_parameters(result, body)} | {summary['subjects']} | " + " | ".join(cells) + f" | {reenact} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", help='"LABEL=EVAL_DIR[:REENACT_DIR]"')
    args = parser.parse_args(argv)
    rows = []
    for spec in args.rows:
        label, _, dirs = spec.rpartition("=")
        eval_dir, _, reenact_dir = dirs.partition(":")
        rows.append((label, Path(eval_dir), Path(reenact_dir) if reenact_dir else None))
    print(table(rows))  # noqa: T201 - command-line output


if __name__ == "__main__":
    main()
