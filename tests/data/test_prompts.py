"""Filmic prompts from templates, and the language-model command hook."""

import json
import sys

import numpy as np
import pytest

from uvatar.data.prompts import build_prompt, describe_meta, refine_with_command, write_prompts
from uvatar.errors import DependencyError, UvatarError


def test_prompts_are_deterministic_and_complete():
    a = build_prompt(np.random.default_rng(3))
    assert a == build_prompt(np.random.default_rng(3))
    for word in ("lens", "light", "same person", "hands"):
        assert word in a["prompt"]
    prompts = {build_prompt(np.random.default_rng(s))["prompt"] for s in range(20)}
    assert len(prompts) == 20


def test_meta_describes_a_synthetic_subject():
    meta = {"age_years": 70, "phenotypes": {"gender": 0.9},
            "appearance": {"hair_style": "bob", "hair_colour": "grey", "top": "sweater", "bottom": "skirt"}}
    text = describe_meta(meta)
    assert text.startswith("an elderly woman") and "grey bob hair" in text and "skirt" in text


def test_llm_command_hook(tmp_path):
    upper = f'{sys.executable} -c "import sys; print(sys.stdin.read().split(\'Prompt: \')[1].upper())"'
    rows = write_prompts(tmp_path / "p.jsonl", 2, seed=1, llm_command=upper)
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["prompt"] == rows[0]["template_prompt"].upper()
    with pytest.raises(DependencyError):
        refine_with_command("x", "no-such-command-for-uvatar")
    with pytest.raises(UvatarError):
        refine_with_command("x", f'{sys.executable} -c "import sys; sys.exit(3)"')
