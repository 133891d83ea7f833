"""MediaPipe finds a person in rendered half- and full-body views (the data must look like people)."""

import pytest

from uvatar.data.cameras import ViewConfig
from uvatar.data.synth import SynthConfig, run_synth


@pytest.mark.slow
def test_mediapipe_detects_people_in_half_and_full_body_views(tmp_path, body):
    from uvatar.data.stats import detection_rate

    config = SynthConfig(subjects=10, views=4, size=384, subjects_per_shard=5, seed=1,
                         camera=ViewConfig(framing_probs=(0.0, 0.6, 0.4)))
    run_synth(config, tmp_path, body=body)
    result = detection_rate(tmp_path, n=40)
    assert result["all"]["n"] == 40
    assert result["all"]["rate"] >= 0.9, result  # a quality floor (README: 97% of 150 sampled views)
