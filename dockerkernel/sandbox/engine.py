"""The Engine API calls that make a cell container: its HostConfig, environment and attach stream.

This is DESIGN.md §4's contract in one place: no network, read-only root, all capabilities
dropped, no-new-privileges, memory without swap, a pids limit, a size-capped /tmp, an init
process, no logs. ``Sandbox`` (``__init__.py``) decides when containers are made; this module
says how.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import docker
from docker.types import LogConfig, Mount

from ..cells import Limits
from ..languages import Language
from ..packages import MANAGERS, PACKAGES_MOUNT

WORKSPACE = "/workspace"
SANDBOX_USER = "1000:1000"
MiB = 1 << 20
# under gVisor the host pids cgroup is a backstop only (see host_config)
RUNSC_HOST_PIDS_FLOOR = 16384
RUNSC_STATX_SHIM = "/usr/local/lib/dockerkernel/statx-shim.so"
# the attach stream's frame header: stream type (1 stdout, 2 stderr), 3 zero bytes, 4-byte size
ATTACH_HEADER = 8


def host_config(api: docker.APIClient, limits: Limits, volume: str, memory: int | None = None) -> dict:
    """Hardened HostConfig for a cell container (DESIGN.md §4), with ``volume`` at /workspace."""
    mem = memory or limits.memory
    ulimits = [docker.types.Ulimit(name="core", soft=0, hard=0)]
    pids_limit = limits.pids
    if limits.runtime == "runsc":
        # gVisor serves every process of the cell from a few host threads and stub processes
        # that the host pids cgroup counts in its own way: a host limit near the cell's kills
        # the whole sandbox (exit 2, output lost). The cell's own limit is RLIMIT_NPROC, which
        # gVisor's kernel enforces per sandbox (forks and threads fail with EAGAIN; the runner
        # sees the count at the limit and reports PidsLimitExceeded); the host limit stays,
        # generous, as a backstop. Under runc RLIMIT_NPROC would count every process of the
        # uid on the host, so it is only used here.
        ulimits.append(docker.types.Ulimit(name="nproc", soft=limits.pids, hard=limits.pids))
        pids_limit = max(RUNSC_HOST_PIDS_FLOOR, limits.pids * 64)
    return api.create_host_config(
        mem_limit=mem,
        memswap_limit=mem,  # no swap beyond the memory limit
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=pids_limit,
        network_mode=limits.network,
        read_only=True,
        # exec: compiled languages run their binaries from /tmp; nosuid/nodev still apply
        tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={limits.tmp_size},mode=1777"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        log_config=LogConfig(type="none"),
        mounts=[Mount(WORKSPACE, volume, type="volume")] + package_mounts(limits),
        runtime=limits.runtime or None,
        ulimits=ulimits,
    )


def package_mounts(limits: Limits) -> list[Mount]:
    """The kernel's package environment (``%pip install``), read-only: a cell cannot change it."""
    return [Mount(PACKAGES_MOUNT, limits.packages, type="volume", read_only=True)] if limits.packages else []


def environment(language: Language, limits: Limits) -> dict:
    """The cell container's environment: the language's, where its packages are, gVisor's shim."""
    env = dict(language.env)
    if limits.packages and language.name in MANAGERS:
        env.update(MANAGERS[language.name].cell_env)
    if limits.runtime == "runsc":
        # see images/base/Dockerfile: makes ls/stat work under gVisor 20221219
        env["LD_PRELOAD"] = RUNSC_STATX_SHIM
        # the boot code adapts to gVisor (short pipe writes, see pyboot.whole_write_stdio)
        env["DK_RUNTIME"] = "runsc"
    return env


def demux(buf: bytearray) -> Iterator[tuple[str, bytes]]:
    """Take the complete frames of Docker's multiplexed attach stream off the front of ``buf``.

    Yields ``(stream, payload)`` with stream ``stdout`` or ``stderr``; an incomplete frame
    stays in ``buf`` for the next read.
    """
    while len(buf) >= ATTACH_HEADER:
        size = int.from_bytes(buf[4:ATTACH_HEADER], "big")
        if len(buf) < ATTACH_HEADER + size:
            return
        stream = "stderr" if buf[0] == 2 else "stdout"
        payload = bytes(buf[ATTACH_HEADER : ATTACH_HEADER + size])
        del buf[: ATTACH_HEADER + size]
        yield stream, payload


class CellContainer:
    """A created, attached and started container waiting for its one cell."""

    def __init__(self, container_id: str, attach, warm: bool, image_id: str = ""):
        """Wrap a started container and its attach socket."""
        self.id = container_id
        self._attach = attach  # keeps the HTTP response (and TLS) alive
        self.sock = getattr(attach, "_sock", attach)
        self.warm = warm
        self.from_pool = False
        self.image_id = image_id
        self.created = time.monotonic()

    def looks_alive(self) -> bool:
        """A waiting container has said nothing; readable means it died (EOF) or misbehaves."""
        try:
            fileno = self.sock.fileno()
        except Exception:
            return False
        try:
            readable, _, _ = select.select([fileno], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def send(self, data: bytes) -> None:
        """Write the cell to the runner's stdin."""
        self.sock.sendall(data)

    def recv(self) -> bytes:
        """The next bytes of the attach stream; b"" at its end (or when the socket is closed)."""
        try:
            return self.sock.recv(1 << 16)
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        """Close the attach connection."""
        for obj in (self.sock, self._attach):
            try:
                obj.close()
            except Exception:
                pass
