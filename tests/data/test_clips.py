"""The clip branch: view labels from fitted orientations, the directed pair graph, ingesting a clip."""

import json
import math

import pytest
import torch

from uvatar.camera import Camera
from uvatar.data.clips import (
    LEVELS,
    ClipsConfig,
    directed_pairs,
    fitted_yaw,
    is_acyclic,
    run_clips,
)
from uvatar.track.proxyfit import ProxyFit


@pytest.mark.parametrize("azimuth", [0.0, 40.0, -90.0, 150.0])
def test_fitted_yaw_is_the_camera_azimuth(body, azimuth):
    params = body.default_params(1)
    with torch.no_grad():
        centre = body.forward(params).vertices[0].mean(0)
    a = math.radians(azimuth)
    camera = Camera.look_at(centre + torch.tensor([math.sin(a), -math.cos(a), 0.1]) * 3.0, centre, 64, 64)
    for regime in ("half", "head"):
        fit = ProxyFit(regime=regime, params=params, camera=camera)
        assert abs((fitted_yaw(body, fit) - azimuth + 180) % 360 - 180) < 6, regime
    # turning the head turns a head framing's yaw, not a half framing's
    turned = params.detach()
    turned.rotvecs[0, body.bone_index("head")] = torch.tensor([0.0, 0.0, 0.5])
    yaw_head = fitted_yaw(body, ProxyFit(regime="head", params=turned, camera=camera))
    yaw_body = fitted_yaw(body, ProxyFit(regime="half", params=turned, camera=camera))
    assert abs(abs(yaw_head - yaw_body) - math.degrees(0.5)) < 6


def _nodes(views, confidence=0.8):
    return [{"view": v, "time_s": 0.5 * i, "confidence": confidence} for i, v in enumerate(views)]


def test_pairs_flow_only_from_more_to_less_reliable_views():
    views = ["front", "side", "back", "three_quarter", "front", None, "back", "side", "front"]
    nodes = _nodes(views)
    edges = directed_pairs(nodes, ClipsConfig(max_in_edges=10, same_level_edges=False))
    assert edges and is_acyclic(len(nodes), edges)
    for e in edges:
        assert LEVELS[nodes[e["src"]]["view"]] < LEVELS[nodes[e["dst"]]["view"]] and e["weight"] > 0
    assert not any(5 in (e["src"], e["dst"]) for e in edges)  # the unfitted frame takes no part
    assert not any(nodes[e["dst"]]["view"] == "front" for e in edges)  # nothing supervises a front view
    # weights: closer in time and adjacent levels first
    to_back = sorted((e for e in edges if e["dst"] == 2), key=lambda e: -e["weight"])
    assert nodes[to_back[0]["src"]]["view"] == "side"
    capped = directed_pairs(nodes, ClipsConfig(max_in_edges=2, same_level_edges=False))
    assert max(sum(1 for e in capped if e["dst"] == j) for j in range(len(nodes))) == 2
    low = directed_pairs(_nodes(views, confidence=0.1), ClipsConfig())
    assert low == []  # unreliable fits supervise nothing


def test_same_level_pairs_flow_from_the_more_confident_fit():
    nodes = [{"view": "front", "time_s": 0.4 * i, "confidence": c} for i, c in enumerate([0.5, 0.9, 0.7, 0.9, 0.3])]
    nodes.append({"view": "side", "time_s": 2.0, "confidence": 0.8})
    edges = directed_pairs(nodes, ClipsConfig(max_in_edges=10))
    assert is_acyclic(len(nodes), edges)
    rank = lambda i: (LEVELS[nodes[i]["view"]], -nodes[i]["confidence"], i)
    assert edges and all(rank(e["src"]) < rank(e["dst"]) for e in edges)
    assert not any(e["dst"] == 1 for e in edges)  # the most confident front frame (first of the tie) is supervised by nothing
    assert {e["src"] for e in edges if e["dst"] == 3} == {1}  # the tie at 0.9 goes to the earlier frame
    assert not any(e["src"] == 5 for e in edges)  # a side view supervises no front view
    # a same-level edge weighs like an adjacent-level one at the same time gap and confidence
    weight = {(e["src"], e["dst"]): e["weight"] for e in edges}
    assert weight[(1, 2)] == pytest.approx(0.9 * math.exp(-0.4 / 2.0), abs=5e-6 + 1e-15)  # the graph rounds weights to 5 decimals (was 1e-4)
    across = directed_pairs(nodes, ClipsConfig(same_level_edges=False))  # the paper's strict rule: only across levels
    assert across and all(e["dst"] == 5 for e in across)


def test_cycles_are_detected():
    assert not is_acyclic(2, [{"src": 0, "dst": 1}, {"src": 1, "dst": 0}])


@pytest.mark.slow
def test_ingest_the_real_clip(tmp_path, body, shared_dir):
    video = shared_dir / "realdata" / "video" / "obama_address_head.mp4"
    result = run_clips([video], tmp_path, ClipsConfig(stride=60, max_frames=3), body=body)
    (summary,) = result["clips"]
    assert summary["frames"] == 3 and summary["fitted"] == 3 and summary["views"]["front"] == 3
    folder = tmp_path / "obama_address_head"
    assert sorted(p.name for p in (folder / "frames").iterdir()) == ["000000.jpg", "000060.jpg", "000120.jpg"]
    assert len(list((folder / "fits").glob("*.json"))) == 3
    graph = json.loads((folder / "graph.json").read_text())
    assert graph["acyclic"] and len(graph["nodes"]) == 3
    # all front: pairs flow from the most confident fit to the others (same-level edges), none into it
    best = max(range(3), key=lambda i: (graph["nodes"][i]["confidence"], -i))
    assert len(graph["edges"]) == 3 and not any(e["dst"] == best for e in graph["edges"])
    assert sorted(p.name for p in (folder / "masks").iterdir()) == ["000000.png", "000060.png", "000120.png"]
    again = run_clips([video], tmp_path, ClipsConfig(stride=60, max_frames=3), body=body)  # done clips are skipped
    assert again["clips"][0] == summary
