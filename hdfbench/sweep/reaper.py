"""Clean up what a local Ray node leaves behind when its driver is killed with SIGKILL.

Ray ties the processes the driver starts itself (GCS, raylet, monitors) to the driver's life through
the kernel, but not the raylet's children: its dashboard and runtime-env agents notice the raylet's
death, then spend a hard-coded 60 s trying to report it to the dead GCS before they exit.

``local_node`` starts the node with a mark in its environment (every process of the node inherits
it; the mark is removed from the driver's own environment afterwards, so nothing else the driver
starts carries it) and, before that, a reaper: a small process holding the read end of a pipe whose
write end only the driver holds. End of file means the driver is gone, by whatever death: the
reaper then terminates every process still carrying the mark and exits. After a normal shutdown
there is none left, and it just exits.

The mark alone is not enough: Ray's agents rename themselves (setproctitle), which can overwrite
the start of their environment in /proc, mark included (seen: ``ray::DashboardAgent`` and
``ray::RuntimeEnvAgent`` outliving a killed driver). So the driver also writes its node's session
folder into the pipe, and the reaper terminates as well every process holding a file open there
(Ray sends each node process's output to its own log files in that folder). With
``HDFBENCH_REAPER_LOG`` set, the reaper notes in that file what it saw and did.

Linux only (it reads ``/proc``); elsewhere the node starts without a reaper.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
#: The environment variable carrying the mark of one driver's local node.
MARK = "HDFBENCH_NODE_MARK"
#: The environment variable naming a file where the reaper notes what it saw and did (the kill drill sets it).
LOG = "HDFBENCH_REAPER_LOG"
#: Seconds between SIGTERM and SIGKILL for a node process that outlives its driver.
GRACE_S = 1.0
#: Seconds the reaper keeps looking for the node's processes after the driver's death.
WATCH_S = 2.0
#: Write end of the pipe to this process's reaper (None until one is started); open for the driver's life.
_pipe: int | None = None
_mark = uuid.uuid4().hex


def local_node(start: Callable[[], object]) -> None:
    """Call ``start()`` (which starts a local Ray node) with this process's mark in the environment, after
    starting this process's reaper if there is none yet, then tell the reaper the node's session folder;
    returns nothing."""
    global _pipe
    if _pipe is None and _PROC.is_dir():
        read_end, _pipe = os.pipe()  # both non-inheritable: Ray's own processes never hold the write end
        subprocess.Popen(
            [sys.executable, "-m", "hdfbench.sweep.reaper", _mark, os.environ.get(LOG, "")],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(read_end)
    os.environ[MARK] = _mark
    try:
        start()
    finally:
        del os.environ[MARK]
    if _pipe is not None and (folder := _session_dir()):
        os.write(_pipe, folder.encode() + b"\n")


def _session_dir() -> str | None:
    """Return the session folder of this process's Ray node (its logs are there), or None if unknown."""
    try:
        from ray._private import worker  # the node object is not public API

        node: Any = worker._global_node
        return str(node.get_session_dir_path())
    except Exception:  # another Ray version: the environment mark alone must do
        return None


def _alive(pid: int) -> bool:
    """Return whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _live_matching(test: Callable[[Path], bool]) -> list[int]:
    """Return the pids of the live processes (this one excepted) whose /proc entry passes ``test``; an
    entry that cannot be read does not."""
    found = []
    for entry in _PROC.glob("[0-9]*"):
        try:
            passes = test(entry)
        except OSError:
            continue
        if passes and int(entry.name) != os.getpid() and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def marked(mark: str, variable: str = MARK) -> list[int]:
    """Return the pids of the live processes whose environment has ``variable=mark``."""
    needle = f"{variable}={mark}".encode()
    return _live_matching(lambda entry: needle in (entry / "environ").read_bytes().split(b"\0"))


def holding(folders: list[str]) -> list[int]:
    """Return the pids of the live processes (this one excepted) with a file open under one of ``folders``."""
    prefixes = tuple(folder.rstrip("/") + "/" for folder in folders if folder)
    if not prefixes:
        return []
    return _live_matching(lambda entry: any(os.readlink(fd).startswith(prefixes) for fd in (entry / "fd").iterdir()))


def terminate(pids: list[int], grace: float = GRACE_S) -> None:
    """Send SIGTERM to ``pids``, then SIGKILL to those still alive after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)


def command(pid: int) -> str | None:
    """Return the command line of ``pid`` (None if it is gone; empty for a process that shows none)."""
    try:
        return (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def watch(
    mark: str, watch_s: float = WATCH_S, limit_s: float = 10.0, note: Callable[[str], None] | None = None
) -> None:
    """Block until end of file on stdin (the driver is gone; what it wrote there before are the node's session
    folders, one per line), then terminate the node's processes (marked, or holding a file open in a
    session folder): look for them for ``watch_s`` seconds (one the dying node was starting may appear
    late), and on until none is left or ``limit_s`` have passed. ``note`` receives a line for each thing
    seen or done."""
    note = note or _notes("")
    note(f"reaper {os.getpid()} watching mark {mark}")
    received = b""
    while chunk := os.read(sys.stdin.fileno(), 4096):
        received += chunk
    folders = received.decode(errors="replace").split()
    note(f"driver gone; session folders {folders}")
    start = time.monotonic()
    while (pids := sorted(set(marked(mark)) | set(holding(folders)))) or time.monotonic() - start < watch_s:
        for pid in pids:
            note(f"terminating {pid} {(command(pid) or '')[:120]}")
        terminate(pids)
        if time.monotonic() - start > limit_s:
            note(f"giving up after {limit_s} s; alive: {[pid for pid in pids if _alive(pid)]}")
            return
        time.sleep(0.1)
    note("no marked process left")


def _notes(path: str) -> Callable[[str], None]:
    """Return a function appending timestamped lines to ``path`` (one that drops them when ``path`` is empty)."""

    def note(line: str) -> None:
        if path:
            with open(path, "a") as log:
                log.write(f"{time.time():.3f} {line}\n")

    return note


if __name__ == "__main__":
    watch(sys.argv[1], note=_notes(sys.argv[2] if len(sys.argv) > 2 else ""))
