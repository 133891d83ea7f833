"""MediaPipe imported without matplotlib (uvatar.detect.mediapipe_import): in a fresh interpreter,
MediaPipe imports and runs without loading matplotlib, a later ``import matplotlib.pyplot`` is the real
module, and MediaPipe's own plotting reaches it."""

import subprocess
import sys

SCRIPT = r"""
import sys, types
import numpy as np
from uvatar.detect.mediapipe_import import DeferredModule, import_mediapipe
mp = import_mediapipe()
assert "matplotlib" not in sys.modules and "matplotlib.pyplot" not in sys.modules, sorted(m for m in sys.modules if m.startswith("matplotlib"))
assert import_mediapipe() is mp
from uvatar.detect.holistic import detect
from uvatar.errors import NoPersonError
try:
    detect(np.zeros((64, 64, 3), np.float32))  # runs a graph: a blank image has nobody
except NoPersonError:
    pass
assert "matplotlib.pyplot" not in sys.modules
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
assert type(plt) is types.ModuleType and not isinstance(plt, DeferredModule)
from mediapipe.python.solutions import drawing_utils
assert drawing_utils.plt.figure is plt.figure  # the stand-in it kept reaches the real pyplot
print("ok")
"""


def test_mediapipe_imports_without_matplotlib_and_matplotlib_stays_real():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
