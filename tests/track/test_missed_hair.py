"""Hair the person mask left out is added back (uvatar.track.missed_hair), and nothing where the background
looks like the hair."""

import numpy as np
import pytest
from hair_helpers import BACKGROUND, HAIR, hair_photo

from uvatar.render.mesh import rasterize_mesh
from uvatar.track.missed_hair import missed_hair


def _cut_hair(body, view):
    """The photo's hair pixels above the head and left of its middle (a puff the segmentation missed)."""
    raster = rasterize_mesh(view.vertices, body.faces, view.camera)
    on_body = raster.mask.cpu().numpy()
    hair = (view.mask > 0.5) & ~on_body
    rows, cols = np.nonzero(on_body)
    head_top, middle = rows.min(), np.median(cols[rows < rows.min() + 20])
    grid_rows, grid_cols = np.indices(hair.shape)
    return hair & (grid_rows < head_top + 10) & (grid_cols < middle)


@pytest.fixture(scope="module")
def puff_photo(body):
    view, _ = hair_photo(body, "afro01", 1.12)
    cut = _cut_hair(body, view)
    assert cut.sum() > 300, "the synthetic hair stands too little off the head to cut a puff"
    return view, cut


def test_missed_hair_is_added_back(body, puff_photo):
    view, cut = puff_photo
    mask = np.where(cut, 0.0, view.mask).astype(np.float32)
    added = missed_hair(view.image, mask, view.vertices, body, view.camera)
    # flat colours: every cut pixel is the hair's colour and joins the hair left in the mask; the region hair
    # is looked for in reaches 0.6 head heights above the head, past this style's top
    assert (added & cut).sum() >= 0.95 * cut.sum(), f"{(added & cut).sum()} of {cut.sum()} cut hair pixels added back"
    assert not (added & ~cut).any(), "pixels the hair did not cut were added"


def test_nothing_is_added_to_a_whole_mask(body, puff_photo):
    view, _ = puff_photo
    assert not missed_hair(view.image, view.mask, view.vertices, body, view.camera).any()


def test_a_background_like_the_hair_is_left_out(body, puff_photo):
    """Behind the head, a wall the hair's colour (Obama's dark window frames beside his head): the cut puff
    cannot be told from it, and neither the puff nor the wall is added."""
    view, cut = puff_photo
    image = view.image.copy()
    background = np.all(np.abs(image - np.array(BACKGROUND, dtype=image.dtype)) < 1e-3, axis=-1)
    assert background.sum() > 0.2 * background.size
    image[background] = np.array(HAIR) + 0.05
    mask = np.where(cut, 0.0, view.mask).astype(np.float32)
    assert not missed_hair(image, mask, view.vertices, body, view.camera).any()
