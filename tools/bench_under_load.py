"""Reconstruct (8-frame turntable) and animate the bundled example on a quiet machine and with one core
busy (a `while True: pass` process beside it); prints the stage times and the loaded/quiet ratios.

    python tools/bench_under_load.py [--threads N] [--repeats 1]

--threads 0 (default) is UVatar's own choice per stage; --threads 2 forces two threads (the behaviour
before uvatar.threads, for comparison). Run it on an otherwise idle machine: other jobs are load too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "astronaut.png"


def _uvatar(*args: str, env: dict) -> None:
    result = subprocess.run([sys.executable, "-m", "uvatar.cli", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"uvatar {' '.join(args)} failed:\n{result.stderr[-2000:]}")


def run_once(threads: int, loaded: bool, work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
    try:
        time.sleep(0.5 if loaded else 0.0)
        out = work / f"avatar-{'loaded' if loaded else 'quiet'}-{threads}"
        start = time.perf_counter()
        _uvatar("reconstruct", str(EXAMPLE), "-o", str(out), "--turntable-frames", "8", "--threads", str(threads), env=env)
        wall = time.perf_counter() - start
        timings = json.loads((out / "report.json").read_text())["timings"]
        start = time.perf_counter()
        _uvatar("animate", str(out / "avatar.uvatar"), "--motion", "wave", "--frames", "8", "--size", "512",
                "--threads", str(threads), "-o", str(out / "wave.mp4"), env=env)  # fmt: skip
        animate = time.perf_counter() - start
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return {"reconstruct_wall_s": round(wall, 2), "avatar_s": timings["avatar_total_s"], "preview_s": timings["preview_s"],
            "turntable_s": timings["turntable_s"], "animate_wall_s": round(animate, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        _uvatar("reconstruct", str(EXAMPLE), "-o", str(Path(work) / "warm"), "--turntable-frames", "1",
                env=dict(os.environ))  # fmt: skip  # caches warm (Anny, UV rasters, MediaPipe)
        rows = {}
        for loaded in (False, True):
            runs = [run_once(args.threads, loaded, Path(work) / str(r)) for r in range(args.repeats)]
            rows["loaded" if loaded else "quiet"] = {k: min(r[k] for r in runs) for k in runs[0]}
    ratio = {k: round(rows["loaded"][k] / rows["quiet"][k], 2) for k in rows["quiet"]}
    print(json.dumps({"threads": args.threads or "auto", **rows, "loaded/quiet": ratio}, indent=1))


if __name__ == "__main__":
    main()
