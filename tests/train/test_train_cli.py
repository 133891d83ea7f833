"""`uvatar train` on the command line: a run folder with checkpoints, logs and the final decoder."""

from __future__ import annotations

import dataclasses
import json

import torch

from decoder_helpers import MICRO

torch.set_num_threads(1)


def test_train_cli_writes_a_run_folder(tmp_path):
    from typer.testing import CliRunner

    from uvatar.cli import app

    config = tmp_path / "micro.json"
    config.write_text(json.dumps({"decoder": dataclasses.asdict(MICRO), "train": {
        "steps": 2, "lr": 1e-3, "warmup_steps": 1, "image_size": 40, "azimuths": [0, 180], "perceptual_views": 0,
        "loss": {"perceptual": 0.0}, "checkpoint_every": 1, "keep_checkpoints": 1, "log_every": 1}}))  # fmt: skip
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", "synthetic:1", "-o", str(run)])
    assert result.exit_code == 0, result.output[-3000:]
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["end_step"] == 2 and summary["world"] == 1 and summary["last"]["loss"] > 0
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "decoder.safetensors", "log.jsonl", "summary.json", "checkpoints"} <= names
    # keep_checkpoints=1: only the newest checkpoint pair is left
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "latest.json", "step-0000002.optim.safetensors", "step-0000002.safetensors"]
    bad = CliRunner().invoke(app, ["train", "--config", "nonsense", "--data", "synthetic:1", "-o", str(tmp_path / "x")])
    assert bad.exit_code != 0
