"""uvatar.threads: per-stage thread counts from the free cores, forced counts honoured."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from uvatar import threads as threads_module
from uvatar.threads import choose_threads, forced_threads, free_cores, stage_threads, usable_cores


def test_forced_counts(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert forced_threads(None) is None and forced_threads(0) is None and forced_threads(3) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert forced_threads(None) == 5 and forced_threads(2) == 2  # --threads wins over the environment
    assert choose_threads(None) == 5  # forced: used as it is, whatever the load
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert forced_threads(None) is None


def test_a_busy_process_takes_a_core():
    cores = usable_cores()
    assert 1 <= free_cores() <= cores
    if cores < 2:
        pytest.skip("one usable core: nothing to give up")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # started and spinning
        # whatever else runs on this machine, a process that is always runnable is one core less
        assert free_cores() <= cores - 1
    finally:
        spinner.kill()
        spinner.wait()


def test_stage_follows_the_load_and_restores_the_count(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    free = [2]
    monkeypatch.setattr(threads_module, "free_cores", lambda: free[0])
    before = torch.get_num_threads()
    with stage_threads("test") as stage:
        assert stage.count == 2 and torch.get_num_threads() == 2
        free[0] = 1
        assert stage.recheck() == 2  # within RECHECK_S: not re-read
        assert stage.recheck(now=True) == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with stage_threads("capped", most=1) as stage:
        free[0] = 2
        assert stage.recheck(now=True) == 1
    with stage_threads("forced", threads=3) as stage:
        assert stage.count == 3 and torch.get_num_threads() == 3
    assert torch.get_num_threads() == before
