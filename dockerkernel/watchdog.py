"""A tiny process that removes a kernel's containers and workspace the moment the kernel dies.

The kernel starts it in its own session (so signals to the kernel's process group do not
reach it). It polls the kernel's pid; when that process is gone — shut down, crashed,
SIGKILLed, or ``os._exit`` by ipykernel's parent poller in the middle of its cleanup — it
removes every object labelled with the kernel's id, then exits. The start-up sweep and
``dockerkernel gc`` remain as the second line of defence.

    python -m dockerkernel.watchdog KERNEL_PID KERNEL_PIDSTART KERNEL_ID
"""

from __future__ import annotations

import os
import sys
import time

from .sandbox.connection import client_from_environment
from .sandbox.labels import LABEL_KERNEL, process_alive, remove_labelled


def remove_kernel_objects(kernel_id: str) -> None:
    """Remove the containers and volumes labelled with ``kernel_id`` (retrying briefly)."""
    for _attempt in range(5):
        try:
            remove_labelled(client_from_environment(60), f"{LABEL_KERNEL}={kernel_id}")
            return
        except Exception:  # the daemon may be restarting: try again shortly
            time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    """Wait for the kernel to end, then clean up after it."""
    args = argv if argv is not None else sys.argv[1:]
    pid, start_time, kernel_id = int(args[0]), args[1], args[2]
    while process_alive(pid, start_time):
        time.sleep(0.5)
    remove_kernel_objects(kernel_id)
    return 0


def start(pid: int, start_time: str, kernel_id: str):
    """Launch the watchdog for a kernel, detached from its process group."""
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "dockerkernel.watchdog", str(pid), start_time, kernel_id],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, env=dict(os.environ),
    )


if __name__ == "__main__":
    sys.exit(main())
