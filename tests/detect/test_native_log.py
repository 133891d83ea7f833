"""MediaPipe's native (absl / TFLite) log lines stay off stderr; anything else written there stays visible."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOISE = re.compile(r"^[IW]\d{4} |XNNPACK delegate|absl::InitializeLog")


def test_detection_writes_no_native_log_lines_to_stderr():
    # A fresh process, so the graphs are built (and their one-off start-up lines printed) here.
    code = (
        "import numpy as np, sys\n"
        "from PIL import Image\n"
        "from uvatar.detect import detect\n"
        "from uvatar.errors import NoPersonError\n"
        f"img = np.asarray(Image.open({str(REPO / 'examples' / 'astronaut.png')!r}).convert('RGB'), np.float32) / 255\n"
        "det = detect(img, source='astronaut.png')\n"
        "assert det.body is not None\n"
        "try:\n"
        "    detect(np.full((96, 96, 3), 0.5, np.float32), source='blank.png')\n"
        "except NoPersonError as exc:\n"
        "    print('ours:', exc, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLOG_", "TF_CPP_"))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    noise = [line for line in result.stderr.splitlines() if NOISE.search(line)]
    assert noise == [], f"{len(noise)} native log lines on stderr, e.g. {noise[:2]}"
    assert "ours: no person found in blank.png" in result.stderr  # our own messages still get through


def test_quiet_section_keeps_errors_and_our_own_output(capfd):
    from uvatar.detect.holistic import _quiet_native_log

    with _quiet_native_log():
        os.write(2, b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager ...\n")
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"I0000 00:00:1.0 1 gl_context.cc:369] GL version: 3.2\n")
        os.write(2, b"E0000 00:00:1.0 1 calculator_graph.cc:887] real failure\n")
        print("a warning of ours", file=sys.__stderr__)  # Python's stderr, on fd 2
        with _quiet_native_log():  # nested sections (the lock is re-entrant) are fine
            os.write(2, b"W0000 00:00:1.0 1 landmark_projection_calculator.cc:186] Using NORM_RECT ...\n")
    err = capfd.readouterr().err
    assert err.splitlines() == ["E0000 00:00:1.0 1 calculator_graph.cc:887] real failure", "a warning of ours"]


def test_native_log_switch_turns_the_filter_off(capfd, monkeypatch):
    from uvatar.detect.holistic import _quiet_native_log

    monkeypatch.setenv("UVATAR_NATIVE_LOG", "1")  # for debugging a crash inside MediaPipe
    with _quiet_native_log():
        os.write(2, b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager ...\n")
    assert "inference_feedback_manager" in capfd.readouterr().err
