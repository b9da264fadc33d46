"""Fault-suite fixtures: stop and restart the host's Docker daemon, safely.

Stopping the daemon breaks every other test run on the machine, so ``daemon_control`` first
waits until no other pytest runs (and fails loudly, never skips, if the machine stays busy),
restarts the daemon exactly the way scripts/ensure-docker.sh starts it (``setsid nohup dockerd``
in the background, log /var/log/dockerd.log), and always leaves it running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import docker
import pytest

from tests.adversarial.conftest import images  # noqa: F401  (the same image check: python, bash, c, javascript)

DOCKERD_LOG = os.environ.get("DOCKERD_LOG", "/var/log/dockerd.log")
PIDFILE = "/var/run/docker.pid"


def pytest_configure(config):
    """Markers of this suite (the run uses --strict-markers)."""
    config.addinivalue_line(
        "markers", "daemon_restart: stops and restarts the host's Docker daemon (exclusive use of the machine)"
    )


def daemon_answers(timeout: float = 5) -> bool:
    """Does the daemon answer a ping?"""
    try:
        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001
        return False


def host_dockerd_pid() -> int:
    """The pid of the host's dockerd (from its pid file; never a nested daemon's)."""
    with open(PIDFILE) as fh:
        pid = int(fh.read().strip())
    with open(f"/proc/{pid}/comm") as fh:
        assert fh.read().strip() == "dockerd", f"{PIDFILE} does not name a dockerd"
    return pid


def other_pytests() -> list[str]:
    """Other pytest processes on this machine (not this one, nor its ancestors)."""
    mine = set()
    pid = os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    out = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        pid_text, _, cmd = line.partition(" ")
        if int(pid_text) not in mine and "pgrep" not in cmd:
            found.append(line)
    return found


class DaemonControl:
    """Stop and start the host daemon; remembers to leave it running."""

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM dockerd (it stops its containers) and wait until it is gone."""
        pid = host_dockerd_pid()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.2)
        assert not daemon_answers(2), "dockerd still answers after SIGTERM"

    def start(self, timeout: float = 90) -> None:
        """Start dockerd the way scripts/ensure-docker.sh does, and wait until it answers."""
        if not daemon_answers(2):
            subprocess.run(f"setsid nohup dockerd >>{DOCKERD_LOG} 2>&1 </dev/null &", shell=True, check=True)
        deadline = time.monotonic() + timeout
        while not daemon_answers(5):
            assert time.monotonic() < deadline, f"dockerd did not come back within {timeout} s; see {DOCKERD_LOG}"
            time.sleep(0.5)


@pytest.fixture
def daemon_control():
    """Exclusive use of the daemon: waits for other pytest runs to end; always restarts dockerd."""
    deadline = time.monotonic() + float(os.environ.get("DK_FAULTS_WAIT_QUIET", "900"))
    while other_pytests():
        if time.monotonic() > deadline:
            pytest.fail("other pytest runs keep the daemon busy; daemon-restart tests need the machine to themselves:\n"
                        + "\n".join(other_pytests()), pytrace=False)
        time.sleep(10)
    control = DaemonControl()
    try:
        yield control
    finally:
        control.start()
