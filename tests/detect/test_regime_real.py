"""The framing regime of each labelled real photo matches its folder (head / half / full)."""

from __future__ import annotations

import pytest
from conftest import real_photos

from uvatar.detect import classify_regime

PHOTOS = real_photos()


def test_all_fourteen_photos_present(realdata):
    assert len(PHOTOS) == 14, [p.name for p in PHOTOS]


@pytest.mark.parametrize("path", PHOTOS, ids=[f"{p.parent.name}/{p.name}" for p in PHOTOS])
def test_regime_matches_folder(path, detections_of):
    decision = classify_regime(detections_of(path))
    assert decision.regime == path.parent.name, (decision.reason, decision.evidence)
    assert (decision.lower_extent is not None) == (decision.regime == "half")


# Where SOURCES.md says the frame cuts the body: at the waist (bottom edge), or near the knees.
@pytest.mark.parametrize(
    "name, extent",
    [("astronaut.png", "waist"), ("obama_arms_crossed.jpg", "waist"), ("biden_three_quarter.jpg", "knee")],
)
def test_half_body_lower_extent(name, extent, realdata, detections_of):
    decision = classify_regime(detections_of(realdata / "half" / name))
    assert decision.lower_extent == extent, decision.evidence


def test_single_person_photos_count_one(realdata, detections_of):
    for path in [p for p in PHOTOS if "_back" not in p.name]:
        assert detections_of(path).n_people == 1, path.name


def test_back_view_counts_two_people(realdata, detections_of):
    # Two women seen from the back: no face is detectable, the painted-out pass finds the second.
    det = detections_of(realdata / "full" / "pexels_nathan_cowley_1300520_back.jpg")
    assert det.n_people == 2
    assert any("2 people" in w for w in det.warnings)
    assert det.face is None
