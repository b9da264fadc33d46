"""Our labels on every container and volume, who owns them, and the one way to remove them.

Every object a kernel creates carries ``dockerkernel.kernel`` (its id), ``.pid`` and
``.pidstart`` (its process, told apart from a reused pid), ``.host`` and ``.role``. The
start-up ``sweep``, ``dockerkernel gc``, ``Sandbox.close_sync`` and the watchdog all remove
objects with ``remove_labelled``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

import docker
import docker.errors

log = logging.getLogger(__name__)

LABEL_KERNEL = "dockerkernel.kernel"
LABEL_PID = "dockerkernel.pid"
LABEL_PIDSTART = "dockerkernel.pidstart"
LABEL_HOST = "dockerkernel.host"
LABEL_ROLE = "dockerkernel.role"
CONFLICT_WAIT = 10.0  # seconds a removal waits for a concurrent one of the same object


def this_host() -> str:
    """The host name recorded on our objects (gc only touches its own host's objects)."""
    return socket.gethostname()


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int) -> str:
    """A process's start time in clock ticks since boot (tells a reused pid apart), or ''."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def process_alive(pid: int, start_time: str = "") -> bool:
    """Is process ``pid`` running (not a zombie), and the one that started at ``start_time``?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return False  # a zombie: dead, only not yet reaped by its parent
    return not start_time or start_time == process_start_time(pid)


def owner_alive(labels: dict) -> bool:
    """Is the kernel process that created an object (by its labels) still running?"""
    try:
        pid = int(labels.get(LABEL_PID, "0"))
    except ValueError:
        return False
    return process_alive(pid, labels.get(LABEL_PIDSTART) or "")


def remove_labelled(
    client: docker.DockerClient, label: str, *, spare: Callable[[dict], bool] = lambda labels: False
) -> dict:
    """Remove the containers (with their anonymous volumes) and volumes carrying ``label``.

    ``label`` is a Docker label filter (``KEY`` or ``KEY=VALUE``); objects whose labels
    ``spare`` accepts are kept. Gone already is fine; other API errors are logged. Returns
    ``{"containers": n, "volumes": n}`` removed. Raises docker's errors when the daemon
    cannot be asked at all.
    """
    removed = {"containers": 0, "volumes": 0}
    api = client.api
    for info in api.containers(all=True, filters={"label": [label]}):
        if not spare(info.get("Labels") or {}) and _removed(api.remove_container, info["Id"], force=True, v=True):
            removed["containers"] += 1
    for info in api.volumes(filters={"label": label}).get("Volumes") or []:
        if not spare(info.get("Labels") or {}) and _removed(api.remove_volume, info["Name"], force=True):
            removed["volumes"] += 1
    return removed


def _removed(remove, name: str, **kwargs) -> bool:
    """Remove one object; True once it is gone. A conflict (409: another removal of it is under
    way, say the watchdog's, or a volume still held by a container being removed) is waited out
    for up to ``CONFLICT_WAIT`` seconds, so that gone means gone when this returns."""
    deadline = time.monotonic() + CONFLICT_WAIT
    conflicted = False
    while True:
        try:
            remove(name, **kwargs)
            return True
        except docker.errors.NotFound:
            return conflicted  # gone: after a conflict, by the removal we waited for
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and time.monotonic() < deadline:
                conflicted = True
                time.sleep(0.2)
                continue
            log.warning("could not remove %s: %s", name[:24], exc)
            return False


def sweep(client: docker.DockerClient, *, everything: bool = False, host: str | None = None) -> dict:
    """Remove our containers and volumes whose kernel process is gone (all ours if ``everything``)."""
    host = host or this_host()

    def spare(labels: dict) -> bool:
        return labels.get(LABEL_HOST) != host or (not everything and owner_alive(labels))

    return remove_labelled(client, LABEL_KERNEL, spare=spare)


def _age(timestamp: str) -> float:
    """Seconds since a Docker timestamp (RFC 3339, nanoseconds); 0 when unreadable or unset."""
    from datetime import datetime, timezone

    text = (timestamp or "").replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:min(digits, 6)]}{tail[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if moment.year < 2000:  # "0001-01-01T00:00:00Z": never finished
        return 0.0
    return (datetime.now(timezone.utc) - moment).total_seconds()


def sweep_node(client: docker.DockerClient, grace: float = 60.0, label: str = LABEL_KERNEL) -> dict:
    """Remove what dead kernels of ANY host left on this daemon (a cluster node's shared celld).

    Safe while other kernels live, because it never asks whose kernel is alive: it removes
    only containers of ours that stopped more than ``grace`` seconds ago (a live kernel
    removes its stopped containers at once; a dead kernel's holder and pool containers stop
    when its attach connection drops) and volumes of ours that no container uses and that were
    created more than ``grace`` seconds ago (a live kernel's workspace is always mounted by
    its holder). Running containers are never touched. ``label``: a narrower label filter
    (``dockerkernel.kernel=ID``: one kernel's). Returns ``{"containers": n, "volumes": n}``.
    Raises docker's errors when the daemon cannot be asked.
    """
    removed = {"containers": 0, "volumes": 0}
    api = client.api
    for info in api.containers(all=True, filters={"label": [label], "status": ["exited", "dead", "created"]}):
        try:
            state = api.inspect_container(info["Id"])["State"]
        except docker.errors.NotFound:
            continue
        if state.get("Status") == "created":  # never started: its age counts
            stopped_for = time.time() - float(info.get("Created") or time.time())
        else:
            stopped_for = _age(state.get("FinishedAt", ""))
        if stopped_for > grace and _removed(api.remove_container, info["Id"], force=True, v=True):
            removed["containers"] += 1
    for info in api.volumes(filters={"label": label, "dangling": True}).get("Volumes") or []:
        if _age(info.get("CreatedAt", "")) > grace and _removed(api.remove_volume, info["Name"]):
            removed["volumes"] += 1
    return removed
