"""KID and person crops of the domain-gap evaluation (uvatar/eval/domain_gap.py)."""

import numpy as np
import pytest

from uvatar.eval.domain_gap import CROP, kid, person_crop


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    same, spread = kid(a, b, subset_size=100, subsets=50)
    # unbiased: samples of one distribution give a mean within a few spreads of 0
    assert abs(same) <= 3 * spread / np.sqrt(50) + 1e-12
    shifted, _ = kid(a, b + 1.0, subset_size=100, subsets=50)
    assert shifted > 10 * max(abs(same), spread)


def test_kid_needs_two_rows_a_side():
    with pytest.raises(ValueError, match="at least 2"):
        kid(np.zeros((1, 4)), np.zeros((5, 4)))


def test_person_crop_centres_the_box_and_pads_grey():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 50:90] = 255  # a white 40x40 "person"
    crop = person_crop(image, (50, 20, 90, 60))
    assert crop.shape == (CROP, CROP, 3) and crop.dtype == np.float32
    # the box spans 1/1.2 of the crop, centred: its middle is white and its edges sit MARGIN/1.2 of the side
    # from the crop's edges; one image pixel spans 224/48 = 4.7 crop pixels, over which linear
    # interpolation blends the edge, so the test looks 5 crop pixels either side of it
    assert crop[CROP // 2, CROP // 2].min() == pytest.approx(1.0)
    edge = CROP * 0.1 / 1.2
    assert crop[CROP // 2, int(edge) + 5].min() > 0.99 and crop[CROP // 2, int(edge) - 5].max() < 0.01
    far = person_crop(image, (0, 0, 200, 100))  # wider than tall: grey above and below the image
    assert np.allclose(far[2, CROP // 2], 0.5)


def test_the_report_never_replaces_a_file_it_did_not_write(tmp_path, capsys):
    from uvatar.eval.domain_gap import main

    precious = tmp_path / "notes.json"
    precious.write_text('{"mine": 1}')
    code = main(["--synth", str(tmp_path), "--realdata", str(tmp_path), "--out", str(precious)])
    assert code == 2 and "not a domain-gap report" in capsys.readouterr().err
    assert precious.read_text() == '{"mine": 1}'


def test_person_only_crops_grey_out_the_backdrop_by_the_mask():
    image = np.full((100, 100, 3), 200, np.uint8)  # a light backdrop
    image[30:70, 40:60] = 20  # a dark "person"
    mask = np.zeros((100, 100), np.float32)
    mask[30:70, 40:60] = 1.0
    mask[30:70, 60:63] = 0.5  # half-covered backdrop columns beside it
    box = (40, 30, 60, 70)
    crop = person_crop(image, box, mask)
    plain = person_crop(image, box)
    assert crop[CROP // 2, CROP // 2].max() == pytest.approx(20 / 255, abs=1e-6)  # the person is kept
    assert np.allclose(crop[5, 5], 0.5) and plain[5, 5].min() > 0.75  # the backdrop is grey, not 200/255
    # a 0.5-covered backdrop pixel is half image, half grey: crop column u + 0.5 = 224 / 48 (x + 0.5 - 26)
    # puts image column 61 (the middle one of the three) at crop column 165
    assert crop[CROP // 2, 165].mean() == pytest.approx(0.5 * 200 / 255 + 0.25, abs=1e-3)


def test_synthetic_crops_keep_only_the_views_asked_for(tmp_path):
    from uvatar.data.synth import SynthConfig, run_synth
    from uvatar.eval.domain_gap import synthetic_crops

    config = SynthConfig(subjects=1, views=4, size=64, wardrobe=None)
    run_synth(config, tmp_path, job=(0, 1), workers=1)
    every = synthetic_crops([tmp_path])
    labels = []
    from uvatar.data.samples import decode_view
    from uvatar.data.shards import read_shard

    for key, files in read_shard(next((tmp_path / "shards").glob("*.tar"))):
        if "image.png" in files:
            labels.append(decode_view(files).info["view"])
    assert sum(len(v) for v in every.values()) == 4
    for label in set(labels):
        only = synthetic_crops([tmp_path], views=(label,))
        assert sum(len(v) for v in only.values()) == labels.count(label)
