"""Synthetic subjects wearing catalogue templates: the choice, the pieces, the textures, the render."""

import numpy as np
import pytest
import torch

from uvatar.assets import asset_names
from uvatar.camera import Camera
from uvatar.data.appearance import AppearanceConfig, paint_appearance
from uvatar.data.render import SubjectRenderer
from uvatar.data.synth import SynthConfig, _meshes, config_from_dict, make_subject
from uvatar.data.wardrobe import (
    WardrobeConfig,
    draw_wardrobe,
    dress_subject,
    outfit_pieces,
    paint_piece,
)

APPEARANCE = AppearanceConfig(texture_size=512)
ALWAYS = WardrobeConfig(hair_prob=1.0, top_prob=1.0, bottom_prob=1.0, skirt_prob=1.0, shoes_prob=1.0, lashes_prob=1.0, texture_size=256)


def _look(**over) -> dict:
    look = {"hair_style": "long", "top": "tshirt", "bottom": "jeans", "shoes": "sneakers"}
    look.update(over)
    return look


def test_outfit_pieces_partition_each_outfit_and_tops_sit_above_bottoms():
    from uvatar.data.wardrobe import _reference

    kinds = {}
    for name in asset_names("outfit"):
        pieces = outfit_pieces(name)
        mesh, _, _ = _reference(name)
        faces = np.concatenate(list(pieces.values()))
        assert np.array_equal(np.sort(faces), np.arange(len(mesh.faces))), name  # every face in exactly one piece
        kinds[name] = set(pieces)
        if set(pieces) == {"top", "bottom"}:
            z = mesh.rest_vertices.numpy()[:, 2]
            top_z = z[mesh.faces.numpy()[pieces["top"]]].mean()
            bottom_z = z[mesh.faces.numpy()[pieces["bottom"]]].mean()
            assert top_z > bottom_z + 0.3, name
    assert kinds["male_casualsuit01"] == {"full"}  # a one-piece boiler suit
    assert kinds["male_casualsuit03"] == {"top", "bottom"}
    assert sum(k == {"top", "bottom"} for k in kinds.values()) >= 8


def test_draw_wardrobe_follows_the_look_and_is_deterministic():
    a = draw_wardrobe(np.random.default_rng(3), _look(), 0.8, ALWAYS)
    b = draw_wardrobe(np.random.default_rng(3), _look(), 0.8, ALWAYS)
    assert a == b
    assert a["hair"] == "long01" and a["shoes"] in asset_names("shoes") and a["top"] in asset_names("outfit")
    for seed in range(20):
        bald = draw_wardrobe(np.random.default_rng(seed), _look(hair_style="bald", shoes="barefoot", top="dress", bottom="skirt"), 0.8, ALWAYS)
        assert bald["hair"] is None and bald["shoes"] is None and bald["top"] is None
        assert bald["bottom"] == "female_elegantsuit01"  # the template skirt (skirt_prob 1)
        full = draw_wardrobe(np.random.default_rng(seed), _look(), 0.2, ALWAYS)
        if "full" in outfit_pieces(full["top"]):
            assert full["bottom"] == full["top"]  # a one-piece suit is worn whole
        else:  # jeans: a bottom piece that reaches below the knees
            assert full["bottom"] != "female_casualsuit02"
        shorts = draw_wardrobe(np.random.default_rng(seed), _look(bottom="shorts", top="dress"), 0.2, ALWAYS)
        assert shorts["bottom"] == "female_casualsuit02"  # the catalogue's only shorts
        capri = draw_wardrobe(np.random.default_rng(seed), _look(bottom="capri", top="dress"), 0.2, ALWAYS)
        assert capri["bottom"] is None  # no template: painted


def test_painted_shell_leaves_the_hair_to_the_template(body):
    with torch.no_grad():
        rest = body.forward(body.default_params(1)).rest_vertices[0].numpy()
    # the same painted look with and without templates: draw until the look has long hair
    for seed in range(40):
        plain = paint_appearance(body, np.random.default_rng(seed), rest, 0.9, 30, APPEARANCE)
        if plain.info["hair_style"] in ("long", "bob", "ponytail"):
            break
    dressed = paint_appearance(body, np.random.default_rng(seed), rest, 0.9, 30, APPEARANCE, wardrobe=ALWAYS)
    assert dressed.info["hair_style"] == plain.info["hair_style"]  # the painted draws come first, unchanged
    assert "wardrobe" not in plain.info and dressed.info["wardrobe"]["hair"] is not None
    assert (plain.shell_rgba[..., 3] > 127).sum() > 2000  # painted hair on the shell ...
    assert (dressed.shell_rgba[..., 3] > 127).sum() < 0.2 * (plain.shell_rgba[..., 3] > 127).sum()  # ... gone with a template


def test_hair_texture_frays_at_open_borders_and_is_deterministic():
    look = {"hair": [0.6, 0.4, 0.2]}
    a = paint_piece("long01", "hair", np.arange(4108), look, seed=5, size=256)
    assert np.array_equal(a, paint_piece("long01", "hair", np.arange(4108), look, seed=5, size=256))
    from uvatar.data.wardrobe import _texels

    t = _texels("long01", 256)
    alpha = a.reshape(-1, 4)[t["index"], 3].astype(float) / 255
    inner, border = t["border"] > 0.03, t["border"] < 0.002
    assert inner.sum() > 1000 and border.sum() > 100
    assert (alpha[inner] >= 0.5).mean() > 0.99  # solid hair away from the cards' edges
    assert (alpha[border] < 0.5).mean() > 0.6  # frayed (drawn alpha-tested at 0.5) at them
    red = a.reshape(-1, 4)[t["index"][inner], 0].astype(float) / 255 / 0.6
    # strands, clumps, hollows and lengths: the brightness varies by 8-12 % (seeds 0-4 measured 0.077-0.118);
    # the 8-bit steps alone would give 0.2 %
    assert red.std() > 0.05


def test_a_solid_garment_keeps_the_look_colour():
    look = {"top_colour": [0.2, 0.5, 0.8], "top_pattern": "solid"}
    pieces = outfit_pieces("male_casualsuit03")
    tex = paint_piece("male_casualsuit03", "top", pieces["top"], look, seed=1, size=256)
    from uvatar.data.wardrobe import _texels

    t = _texels("male_casualsuit03", 256)
    on_top = np.isin(t["face"], pieces["top"])
    texels = tex.reshape(-1, 4)[t["index"]]
    assert (texels[~on_top, 3] == 0).all() and (texels[on_top, 3] == 255).all()  # the other piece is transparent
    median = np.median(texels[on_top, :3].astype(float) / 255, axis=0)
    # grain +-5 %, fabric variation +-9 %, seams and folds only darken: the median stays within 10 % of the colour
    assert np.abs(median - np.array(look["top_colour"])).max() < 0.1


def _uncovered(body, vertices, normals, hidden, worn) -> np.ndarray:
    """For each body vertex of the ``hidden`` faces: the lateral distance (in its tangent plane) to the
    nearest garment vertex over it (along its normal from 2 cm inside to 8 cm away); 1.0 where none is."""
    from scipy.spatial import cKDTree

    garment = np.concatenate([p.vertices for p in worn])
    tree = cKDTree(garment)
    out = []
    for i in np.unique(body.faces.numpy()[hidden]):
        d = garment[tree.query_ball_point(vertices[i], 0.08)] - vertices[i]
        along = d @ normals[i]
        lateral = np.linalg.norm(d - along[:, None] * normals[i], axis=1)[along > -0.02]
        out.append(lateral.min() if len(lateral) else 1.0)
    return np.asarray(out)


@pytest.mark.parametrize("top,bottom", [("female_sportsuit01", "female_casualsuit01"), ("male_casualsuit03", "female_casualsuit02")])
def test_mixed_pieces_hide_only_body_under_them(body, top, bottom):
    """A top from one outfit over trousers from another: every body vertex left out lies under a worn
    piece (no hole where the other outfit's own top or sleeves would have been)."""
    from uvatar.body.skinning import vertex_normals

    params = body.default_params(1)
    with torch.no_grad():
        output = body.forward(params)
    look = {"top_colour": [0.8, 0.1, 0.1], "bottom_colour": [0.1, 0.1, 0.5]}
    choice = {"hair": None, "top": top, "bottom": bottom, "shoes": None, "hat": None, "eyelashes": None, "seed": 0}
    worn, hidden = dress_subject(body, params, output, choice, look, ALWAYS)
    assert [p.piece for p in worn] == ["top", "bottom"]
    vertices = output.vertices[0]
    normals = vertex_normals(vertices[None], body.faces)[0].numpy()
    lateral = _uncovered(body, vertices.numpy(), normals, hidden, worn)
    assert hidden.sum() > 2000
    # measured: at most 3.0 and 2.4 cm (the garments' vertex spacing; "outside" allows 2 cm inside the
    # skin, where trousers sit under the inner thighs); hiding each outfit's whole delete list instead
    # leaves 34 body vertices of the second pair 3-4 cm from any garment over them (9 of the first)
    assert lateral.max() < 0.035


def test_a_dressed_subject_renders_its_templates_into_the_image_and_the_aux_layers(body):
    config = SynthConfig(subjects=1, views=1, size=160, appearance=APPEARANCE, wardrobe=ALWAYS)
    for index in range(10):
        subject = make_subject(body, config, index)
        if any(p.piece == "hair" for p in subject.worn):
            break
    assert subject.worn and subject.hidden_faces.any()
    renderer = SubjectRenderer(160, 160)
    try:
        renderer.set_subject(_meshes(body, subject), subject.lighting)
        centre = subject.vertices.mean(0)
        back = Camera.look_at(centre + np.array([0.0, 3.2, 0.3]), centre, 160, 160, 45.0)
        view = renderer.render(back, {"noise_sigma": 0.0}, aux=True)
    finally:
        renderer.release()
    layer = np.round(view.aux[..., 2]).astype(int)
    hair = 3 + [p.piece for p in subject.worn].index("hair")
    assert (layer == hair).sum() > 50  # the back of the head shows the template hair
    assert (layer >= 3).sum() > (layer == 1).sum()  # from behind, clothes and hair cover most of the person
    assert ((layer > 0) <= (view.mask > 0)).all()  # everything drawn is in the person mask
    uv = view.aux[layer == hair, :2]
    assert (uv >= 0).all() and (uv <= 1).all()


def test_synth_config_round_trips_with_and_without_templates():
    with_templates = SynthConfig(subjects=2, views=1, size=64)
    assert config_from_dict(with_templates.to_dict()) == with_templates
    plain = SynthConfig(subjects=2, views=1, size=64, wardrobe=None)
    assert config_from_dict(plain.to_dict()) == plain
    old = plain.to_dict()
    del old["wardrobe"]  # a manifest written before templates existed
    assert config_from_dict(old).wardrobe is None


@pytest.mark.parametrize("wardrobe", [None, ALWAYS])
def test_make_subject_is_deterministic(body, wardrobe):
    config = SynthConfig(subjects=1, views=1, size=64, appearance=APPEARANCE, wardrobe=wardrobe)
    a, b = make_subject(body, config, 2), make_subject(body, config, 2)
    assert np.array_equal(a.appearance.albedo, b.appearance.albedo)
    assert [p.name for p in a.worn] == [p.name for p in b.worn]
    assert all(np.array_equal(p.rgba, q.rgba) and np.array_equal(p.vertices, q.vertices) for p, q in zip(a.worn, b.worn))
    assert (len(a.worn) > 0) == (wardrobe is not None)
