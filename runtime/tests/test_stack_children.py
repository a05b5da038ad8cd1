"""The local stack's child processes end with everything they started: a service killed with SIGKILL (as the failure
tests and a crash do) leaves no worker of its pool running, as a container that stops leaves none (Kubernetes ends
every process of a pod's container)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from edms_runtime.stack import ChildProcess

#: A parent that starts a grandchild (in its process group, as a ProcessPoolExecutor's workers are) and waits.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


class _Sleeper(ChildProcess):
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not running
        return stat.read().split()[2] != "Z"


def test_a_killed_child_leaves_none_of_its_own_children_running(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    child = _Sleeper(tmp_path / "child.log")
    child._spawn([sys.executable, "-c", PARENT, str(marker)])
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    assert _alive(grandchild)
    child.stop(kill=True)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
