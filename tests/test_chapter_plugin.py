"""The chapter runner (tools/pytest_chapters.py): budgets are on the kernel's CPU time.

A chapter's budget must measure the chapter, not the machine: a kernel that waits (for a busy
machine, for I/O) uses wall time but no CPU time, and only CPU time counts against the budget.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest_chapters as plugin


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def _cpu_after(proc: subprocess.Popen, seconds: float) -> float:
    time.sleep(seconds)
    cpu = plugin._cpu_seconds(proc.pid)
    proc.kill()
    proc.wait()
    return cpu


def test_a_waiting_kernel_uses_wall_time_but_no_cpu_time():
    cpu = _cpu_after(_child("import time; time.sleep(30)"), 1.5)
    assert cpu is not None and cpu < 0.5, cpu


def test_a_busy_kernel_is_charged_its_cpu_time():
    code = "import time\nt = time.process_time()\nwhile True: pass"
    cpu = _cpu_after(_child(code), 2.0)
    assert cpu is not None and cpu >= 0.5, cpu  # at least a quarter of the wall time on 2 cores


def test_an_unknown_process_gives_no_cpu_time():
    assert plugin._cpu_seconds(None) is None
    proc = _child("pass")
    proc.wait()
    assert plugin._cpu_seconds(proc.pid) is None  # reaped: no such process any more


def test_the_wall_clock_is_only_a_fuse():
    assert plugin.WALL_FUSE >= 3  # a loaded 2-core machine must not fail a chapter on wall time
