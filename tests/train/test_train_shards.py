"""The decoder reads `uvatar synth` shards: subjects with an input view and truth views, a training step, an eval."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from decoder_helpers import MICRO, fast_train

torch.set_num_threads(1)

pytestmark = pytest.mark.skipif(importlib.util.find_spec("uvatar.data.synth") is None, reason="uvatar synth not available")


@pytest.fixture(scope="module")
def shards(body, tmp_path_factory):
    from uvatar.data.synth import SynthConfig, run_synth

    out = tmp_path_factory.mktemp("synth")
    run_synth(SynthConfig(subjects=2, views=3, size=64, subjects_per_shard=1, store_uv=False), out, body=body)
    return out


def test_shard_source_gives_subjects_with_an_input_view(body, shards):
    from uvatar.train.data import open_source

    source = open_source(str(shards), body, MICRO, size=48)
    assert len(source) == 2 and source.describe()["kind"] == "shards"
    subject = source[1]
    labels = [v.label for v in subject.views]
    assert labels.count("input") == 1 and len(labels) == 3
    for view in subject.views:
        assert view.image.shape == (48, 48, 3) and view.camera.width == 48 and 0 <= float(view.image.min())
    assert subject.inputs.core.shape == (1, 3, 64, 64) and subject.inputs.core_seen.sum() > 100
    assert subject.framing in ("head", "half", "full")


def test_train_and_eval_on_shards(body, shards, tmp_path):
    from uvatar.eval.decoder_eval import evaluate_decoder
    from uvatar.train.loop import train

    summary = train(tmp_path / "run", MICRO, fast_train(steps=1), str(shards), body=body)
    assert summary["end_step"] == 1 and summary["data"]["kind"] == "shards"
    result = evaluate_decoder(str(tmp_path / "run"), str(shards), size=48, identity=False)
    assert result["summary"]["all"]["subjects"] == 2
