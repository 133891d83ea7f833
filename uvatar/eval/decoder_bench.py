"""Speed of the MAE decoder configs: parameters, tokens, and time per avatar on this machine.

For each config, one synthetic half-body subject (512 px photo, true body and camera) is prepared at the
config's map sizes (:func:`uvatar.model.inputs.prepare_subject`: projection + baseline fill), then the
decoder runs (untrained weights: the cost does not depend on their values) and its maps are bound into
its Gaussians (:func:`uvatar.model.bind.bind_gaussians`). Reported: ``prepare_s`` (projection and fill), ``forward_s`` (the
transformer), ``bind_s`` (maps -> Gaussians), medians over ``repeats``.
"""

from __future__ import annotations

import statistics
import time

import torch

from uvatar.body.model import load_body_model
from uvatar.data.truth import render_synthetic_subject
from uvatar.model.bind import bind_gaussians
from uvatar.model.inputs import prepare_subject
from uvatar.model.mae import UVDecoder, count_parameters, get_config

__all__ = ["bench_decoders"]


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_decoders(names: list[str], repeats: int = 3, photo_size: int = 512, seed: int = 1) -> list[dict]:
    """One row per config: ``config, params_M, tokens, gaussians, prepare_s, forward_s, bind_s, threads``."""
    body = load_body_model()
    raw = render_synthetic_subject(body, seed, "half", photo_size, (0.0,))
    rows = []
    for name in names:
        config = get_config(name)
        torch.manual_seed(0)
        model = UVDecoder.from_body(config, body).eval()
        # give the heads non-zero weights: a trained decoder's bind does the same work as an untrained one
        with torch.no_grad():
            for stream in (model.core, model.shell):
                stream.head.weight.normal_(0, 1e-3)

        def prepare():
            return prepare_subject(body, raw.view, config)

        inputs, base = prepare()
        prepare_s = _median_time(prepare, max(1, repeats - 1))
        with torch.no_grad():
            forward_s = _median_time(lambda: model(inputs), repeats)
            core, shell = model(inputs)
            bind_s = _median_time(lambda: bind_gaussians(core[0], shell[0], base, config), repeats)
            n = len(bind_gaussians(core[0], shell[0], base, config))
        tokens = sum(model.n_tokens)
        rows.append({"config": name, "params_M": round(count_parameters(model) / 1e6, 3), "tokens": tokens, "gaussians": n,
                     "prepare_s": round(prepare_s, 3), "forward_s": round(forward_s, 3), "bind_s": round(bind_s, 3),
                     "decoder_s": round(forward_s + bind_s, 3), "threads": torch.get_num_threads()})  # fmt: skip
    return rows
