"""Filmic prompts for a video generator (the 2D generation branch's input), from templates.

:func:`build_prompt` draws one prompt from phrase tables: who (age, build, hair, clothing), what they
do (a slow turn that shows the sides and back, a walk, talking with gestures), the framing and lens,
the camera move, the lighting, the place, and a fixed block of physical-plausibility constraints
(consistent identity and clothing, natural proportions and hands, real fabric, no text). A subject's
``meta.json`` from ``uvatar synth`` can seed the "who" part (:func:`describe_meta`), so generated clips
and rendered subjects share a vocabulary.

The paper passes its prompts through language models as a "realism regulariser". Here that is a hook:
:func:`refine_with_command` runs any command the user names (``--llm-command "ollama run qwen2.5:14b"``,
``"llm -m gpt-4o"``, a script...), sends the instruction plus the prompt on its standard input and
takes its standard output as the refined prompt. Nothing is downloaded or required; without a
command the template prompt is used as is.

>>> import numpy as np
>>> p = build_prompt(np.random.default_rng(0))
>>> sorted(p["fields"]) == sorted(["subject", "action", "framing", "camera", "lighting", "place"])
True
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import numpy as np

from uvatar.errors import DependencyError, InputError, UvatarError

__all__ = ["build_prompt", "describe_meta", "refine_with_command", "write_prompts", "REFINE_INSTRUCTION"]

_AGES = ("a teenage", "a young adult", "an adult", "a middle-aged", "an elderly")
_PEOPLE = ("woman", "man", "person")
_BUILDS = ("slim", "athletic", "average-build", "broad-shouldered", "heavy-set", "petite", "tall")
_HAIR = ("short black hair", "shoulder-length brown hair", "long blonde hair", "a curly afro", "a shaved head",
         "grey hair in a bun", "a red ponytail", "a chin-length bob", "cropped dark hair")
_CLOTHES = ("a plain white t-shirt and blue jeans", "a navy knit sweater and grey trousers",
            "a floral summer dress", "a denim jacket over a black tank top", "a striped long-sleeved shirt and chinos",
            "a beige trench coat", "a green hoodie and joggers", "a pleated skirt and a cream blouse",
            "a charcoal suit jacket with an open collar", "a red checked flannel shirt")
_ACTIONS = (
    "turns slowly on the spot through a full circle, showing their left side, back and right side, then faces the camera again",
    "stands still and gives a quarter turn to each side, pausing at the profile views",
    "walks slowly toward the camera, stops, and turns to look over their shoulder",
    "talks to someone off-camera with small hand gestures, turning the upper body from side to side",
    "stands relaxed with arms crossed, then turns around to look at something behind them",
)
_FRAMINGS = (("a close-up of the head and shoulders", "85mm"), ("a medium shot from the waist up", "50mm"),
             ("a medium-full shot from the knees up", "35mm"), ("a full-body wide shot with some floor visible", "28mm"))
_CAMERAS = ("on a static tripod at eye level", "slowly orbiting around the person at eye level",
            "handheld with gentle natural sway", "on a slow dolly moving in", "slightly above eye level, looking down a little")
_LIGHTS = ("soft window light from the side with a gentle fill", "overcast daylight, even and diffuse",
           "warm golden-hour sunlight from behind with a soft rim light", "a studio softbox key light at 45 degrees and a reflector fill",
           "bright midday sun with crisp shadows", "practical indoor lamps, warm and low contrast")
_PLACES = ("in a plain light-grey photo studio", "on a quiet city sidewalk with blurred shopfronts", "in a sunlit park with trees",
           "in a modern living room", "in an office corridor", "on a beach promenade", "in a cafe with bokeh lights")
_PLAUSIBILITY = ("Photorealistic, natural skin texture, the same person and the same clothes in every frame, "
                 "natural body proportions, anatomically correct hands with five fingers, realistic fabric folds and "
                 "hair motion, physically plausible movement and lighting, sharp focus on the person, no text, no logos, "
                 "no watermark, one person only.")

REFINE_INSTRUCTION = (
    "Rewrite the following prompt for a text-to-video model as one paragraph of filmic, concrete description. "
    "Keep every fact about the person, clothing, action, framing, lens, camera, lighting and place; make the "
    "lighting, composition and clothing physically consistent; keep the final sentence of constraints. "
    "Answer with the prompt only.\n\nPrompt: "
)


def describe_meta(meta: dict) -> str:
    """A "who" phrase from a synthetic subject's ``meta.json``."""
    age = float(meta.get("age_years", 30))
    age_word = _AGES[0] if age < 20 else _AGES[1] if age < 30 else _AGES[2] if age < 45 else _AGES[3] if age < 65 else _AGES[4]
    gender = float(meta.get("phenotypes", {}).get("gender", 0.5))
    person = "woman" if gender > 0.65 else "man" if gender < 0.35 else "person"
    app = meta.get("appearance", {})
    hair = f"{app.get('hair_colour', 'dark').replace('_', ' ')} {app.get('hair_style', 'short')} hair"
    if app.get("hair_style") == "bald":
        hair = "a shaved head"
    clothes = f"a {app.get('top', 't-shirt')} with {app.get('bottom', 'trousers')}"
    return f"{age_word} {person} with {hair}, wearing {clothes}"


def build_prompt(rng: np.random.Generator, meta: dict | None = None) -> dict:
    """One prompt: ``{"prompt": str, "fields": {...}}`` (module docstring)."""
    pick = lambda table: table[int(rng.integers(len(table)))]  # noqa: E731
    if meta is not None:
        subject = describe_meta(meta)
    else:
        subject = f"{pick(_AGES)} {pick(_BUILDS)} {pick(_PEOPLE)} with {pick(_HAIR)}, wearing {pick(_CLOTHES)}"
    framing, lens = pick(_FRAMINGS)
    fields = {"subject": subject, "action": pick(_ACTIONS), "framing": framing, "camera": pick(_CAMERAS),
              "lighting": pick(_LIGHTS), "place": pick(_PLACES)}
    prompt = (f"{fields['framing'].capitalize()} of {fields['subject']}, {fields['place']}. The person "
              f"{fields['action']}. Shot on a {lens} lens, {fields['camera']}, {fields['lighting']}. {_PLAUSIBILITY}")
    return {"prompt": prompt, "fields": {**fields, "lens": lens}}


def refine_with_command(prompt: str, command: str, timeout_s: float = 120.0) -> str:
    """Pass ``prompt`` through a user-chosen language-model command (instruction + prompt on stdin).

    Raises:
        DependencyError: the command cannot be run; UvatarError: it fails or prints nothing.
    """
    try:
        done = subprocess.run(shlex.split(command), input=REFINE_INSTRUCTION + prompt, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise DependencyError(f"cannot run the language-model command {command!r}; check --llm-command") from None
    except subprocess.TimeoutExpired:
        raise UvatarError(f"the language-model command {command!r} took longer than {timeout_s:.0f} s") from None
    text = done.stdout.strip()
    if done.returncode != 0 or not text:
        raise UvatarError(f"the language-model command {command!r} failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    return text


def write_prompts(out: str | Path, n: int, seed: int = 0, llm_command: str | None = None,
                  synth_dir: str | Path | None = None) -> list[dict]:
    """Write ``n`` prompts as JSON lines to ``out`` (atomic); optional synth subjects and LLM refinement."""
    from uvatar.io.atomic import atomic_write_text

    if n < 1:
        raise InputError(f"-n must be >= 1; got {n}")
    metas: list[dict] = []
    if synth_dir is not None:
        from uvatar.data.shards import read_shard

        for tar in sorted(Path(synth_dir, "shards").glob("shard-*.tar")):
            for key, files in read_shard(tar):
                if "meta.json" in files:
                    metas.append(json.loads(files["meta.json"]))
                if len(metas) >= n:
                    break
            if len(metas) >= n:
                break
        if not metas:
            raise InputError(f"{synth_dir} holds no synth subjects; pass a folder written by 'uvatar synth'")
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = build_prompt(rng, metas[i % len(metas)] if metas else None)
        row["id"] = i
        if metas:
            row["subject"] = metas[i % len(metas)]["key"]
        if llm_command:
            row["template_prompt"] = row["prompt"]
            row["prompt"] = refine_with_command(row["prompt"], llm_command)
        rows.append(row)
    atomic_write_text(out, "".join(json.dumps(r) + "\n" for r in rows))
    return rows
