"""One cell in one fresh container: create → attach → start → send → stream → end → remove.

This is the Docker side of dockerkernel; it never imports ipykernel. The kernel hands it a
``CellRequest`` and a callback for output events, and gets back a ``CellOutcome`` that says how
the cell ended (ok, error exit, timeout, out of memory, output cap, pids cap, interrupt).

Why it looks like this (see DESIGN.md §4/§5):
* attach before start, or a short program's output is lost;
* the end of a cell is signalled in-band by the runner (protocol.py), so we answer as soon as
  the program is done, even if a background process still holds the output pipe open, and
  the container is removed afterwards, off the critical path;
* our own deadline: ``wait(timeout=)`` is only an HTTP timeout;
* every object carries our labels, so ``sweep`` can remove what a dead kernel left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import secrets
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Mount

from . import protocol
from .errors import DaemonUnavailable, DockerKernelError, ImageMissing, SandboxError
from .languages import Language
from .pool import ContainerPool

log = logging.getLogger(__name__)

LABEL_KERNEL = "dockerkernel.kernel"
LABEL_PID = "dockerkernel.pid"
LABEL_PIDSTART = "dockerkernel.pidstart"
LABEL_HOST = "dockerkernel.host"
LABEL_ROLE = "dockerkernel.role"
WORKSPACE = "/workspace"
SANDBOX_USER = "1000:1000"

MiB = 1 << 20
# under gVisor the host pids cgroup is a backstop only (see Sandbox._host_config)
RUNSC_HOST_PIDS_FLOOR = 16384
RUNSC_STATX_SHIM = "/usr/local/lib/dockerkernel/statx-shim.so"


@dataclass(frozen=True)
class Limits:
    """Everything that shapes a cell container (part of the pool key)."""

    memory: int = 512 * MiB
    cpus: float = 1.0
    pids: int = 256
    timeout: float = 30.0
    output: int = 1 * MiB
    tmp_size: int = 64 * MiB
    network: str = "none"
    runtime: str = ""  # "" = the daemon's default (runc); "runsc" for gVisor
    max_frame: int = 16 * MiB
    display_budget: int = 64 * MiB

    def container_key(self) -> tuple:
        """The fields a running container is built with (timeout/output are enforced by us)."""
        return (self.memory, self.cpus, self.pids, self.tmp_size, self.network, self.runtime)


@dataclass(frozen=True)
class CellRequest:
    """One cell to run."""

    language: Language
    source: bytes
    image: str
    limits: Limits
    env: dict = field(default_factory=dict)
    execution_count: int = 0
    stdin: bool = False  # the frontend can answer input requests
    stdin_file: str = ""  # %stdin FILE: the program's stdin is this workspace file
    state: bool = True  # Python: carry globals to the next cell
    source_file: str = ""  # default: the language's
    compile: tuple[str, ...] | None = None  # compiled languages: argv run before the program
    run: tuple[str, ...] | None = None  # default: the language's run_command


@dataclass
class CellOutcome:
    """How a cell ended, with what the kernel needs to report it."""

    reason: str  # ok | exit | signal | timeout | oom | output | pids | interrupt | lost
    exit_code: int | None = None
    signal: int | None = None
    error: dict | None = None  # the program's own error frame, if it sent one
    elapsed: float = 0.0
    files: list[str] | None = None
    diagnostics: str = ""  # compiler output when reason == "compile"
    stderr_tail: str = ""  # the end of stderr, to read an exception name from
    container_id: str = ""
    image_id: str = ""
    warm: bool = False  # the interpreter was loaded before the cell arrived
    from_pool: bool = False  # the container was pre-started by the pool


@dataclass(frozen=True)
class Output:
    """A chunk of program output."""

    stream: str  # stdout | stderr
    data: bytes


@dataclass(frozen=True)
class Notice:
    """Something the user should read (a dropped frame, ...), shown on stderr."""

    text: str


EventCallback = Callable[[object], None]
# asks the user for one line: (prompt, password) -> answer, or None for end-of-file
InputCallback = Callable[[str, bool], "asyncio.Future[str | None]"]


def this_host() -> str:
    """The host name recorded on our objects (gc only touches its own host's objects)."""
    return socket.gethostname()


def process_start_time(pid: int) -> str:
    """A process's start time in clock ticks since boot (tells a reused pid apart), or ''."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_alive(labels: dict) -> bool:
    """Is the kernel process that created an object (by its labels) still running?"""
    try:
        pid = int(labels.get(LABEL_PID, "0"))
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False  # a zombie: dead, only not yet reaped by its parent
    except (OSError, IndexError):
        pass
    recorded = labels.get(LABEL_PIDSTART)
    return not recorded or recorded == process_start_time(pid)


def client_from_environment(timeout: float = 60) -> docker.DockerClient:
    """A Docker client as the docker CLI would pick it (DOCKER_HOST + TLS variables, else the
    current ``docker context``, ``ssh://`` through the system ssh); see ``deploy.docker_client``."""
    from . import deploy

    try:
        return deploy.docker_client(timeout)
    except docker.errors.DockerException as exc:  # e.g. an unknown context, missing certificates
        raise DaemonUnavailable(deploy.explain_connection_error(exc), "`dockerkernel doctor` checks the connection.") from None


def connect(timeout: float = 60) -> docker.DockerClient:
    """A Docker client from the environment (see ``client_from_environment``); checks it answers."""
    from . import deploy

    client = client_from_environment(timeout)
    try:
        client.api.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DaemonUnavailable(
            f"cannot reach the Docker daemon: {deploy.explain_connection_error(exc)}",
            "Start it (for example: bash scripts/ensure-docker.sh) or point DOCKER_HOST / DOCKER_CONTEXT at one; "
            "`dockerkernel doctor` checks the connection.",
        ) from None


def wrap_docker_error(exc: Exception, image: str = "") -> DockerKernelError:
    """Translate a docker/requests exception into one of ours, with a fix in the hint."""
    if isinstance(exc, DockerKernelError):
        return exc
    if isinstance(exc, docker.errors.ImageNotFound) or (
        isinstance(exc, docker.errors.APIError) and "No such image" in str(exc)
    ):
        lang = image.split("/", 1)[-1].split(":", 1)[0] if image else ""
        return ImageMissing(
            f"image {image} is not on the Docker daemon",
            f"Build it with: dockerkernel images build {lang}".rstrip(),
        )
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, docker.errors.DockerException)) and not isinstance(
        exc, docker.errors.APIError
    ):
        return DaemonUnavailable(
            f"the Docker daemon does not answer: {exc}",
            "Is dockerd running? `dockerkernel doctor` checks; the kernel retries on the next cell.",
        )
    return SandboxError(f"Docker error: {exc}")


def sweep(client: docker.DockerClient, *, everything: bool = False, host: str | None = None) -> dict:
    """Remove our containers and volumes whose kernel process is gone (all ours if ``everything``)."""
    host = host or this_host()
    removed = {"containers": 0, "volumes": 0}
    for info in client.api.containers(all=True, filters={"label": [LABEL_KERNEL]}):
        labels = info.get("Labels") or {}
        if labels.get(LABEL_HOST) != host or (not everything and owner_alive(labels)):
            continue
        try:
            client.api.remove_container(info["Id"], force=True, v=True)
            removed["containers"] += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("could not remove container %s: %s", info["Id"][:12], exc)
    volumes = client.api.volumes(filters={"label": LABEL_KERNEL}).get("Volumes") or []
    for info in volumes:
        labels = info.get("Labels") or {}
        if labels.get(LABEL_HOST) != host or (not everything and owner_alive(labels)):
            continue
        try:
            client.api.remove_volume(info["Name"], force=True)
            removed["volumes"] += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("could not remove volume %s: %s", info["Name"], exc)
    return removed


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

    def close(self) -> None:
        """Close the attach connection."""
        for obj in (self.sock, self._attach):
            try:
                obj.close()
            except Exception:
                pass


class Sandbox:
    """The containers of one kernel: its workspace, its pools, its running cell."""

    def __init__(
        self,
        kernel_id: str,
        *,
        client: docker.DockerClient | None = None,
        pool_size: int = 2,
        workspace_size: int = 1024 * MiB,
        workspace_inodes: int = 100_000,
        docker_workers: int = 4,
    ):
        """Prepare (but do not yet touch Docker) the sandbox of kernel ``kernel_id``."""
        self.kernel_id = kernel_id
        self._client = client
        self.pool_size = pool_size
        self.refill_delay = 0.5  # seconds into a long cell before the pool refills anyway
        # removal and refill wait this long after a cell (in their worker thread, so they happen
        # even when the event loop stops): its reply and idle status go out first, without
        # Docker calls in our threads competing for the GIL with the iopub thread
        self.cleanup_delay = 0.05
        self.workspace_size = workspace_size
        self.workspace_inodes = workspace_inodes
        self.labels = {
            LABEL_KERNEL: kernel_id,
            LABEL_PID: str(os.getpid()),
            LABEL_PIDSTART: process_start_time(os.getpid()),
            LABEL_HOST: this_host(),
        }
        self.volume = f"dockerkernel-ws-{kernel_id[:24]}"
        self._holder_id: str | None = None
        self._workspace_ready = False
        self._workspace_lock = threading.Lock()  # pool fills run in parallel threads
        self._executor = concurrent.futures.ThreadPoolExecutor(docker_workers, thread_name_prefix="dockerkernel")
        self._pools: dict[tuple, ContainerPool] = {}
        self._background: set[asyncio.Future] = set()
        self._current: _RunningCell | None = None
        self._unremoved: set[str] = set()  # removals that failed (daemon down), retried later
        self._starting_cell = False
        self._interrupt_pending = False
        self._image_ids: dict[str, str] = {}
        self.last_files: list[str] = []
        self.closed = False

    # -- Docker plumbing -------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        """The Docker client, connected on first use."""
        if self._client is None:
            self._client = connect()
        return self._client

    async def _call(self, fn, *args, **kwargs):
        """Run a blocking Docker call in our thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _in_background(self, fn, *args) -> None:
        """Run a blocking call off the critical path, remembered so shutdown can wait for it."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, fn, *args)
        self._background.add(future)
        future.add_done_callback(self._background_done)

    def _background_done(self, future) -> None:
        self._background.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning("background Docker call failed: %s", future.exception())

    def _workspace_mount(self) -> Mount:
        return Mount(WORKSPACE, self.volume, type="volume")

    def _host_config(self, limits: Limits, memory: int | None = None):
        """Hardened HostConfig for a cell (DESIGN.md §4)."""
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
        return self.client.api.create_host_config(
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
            mounts=[self._workspace_mount()],
            runtime=limits.runtime or None,
            ulimits=ulimits,
        )

    def _ensure_workspace(self) -> None:
        """Create the size-capped workspace volume and the tiny container that keeps it mounted.

        The volume is a tmpfs with a size and inode cap, so filling it cannot fill the
        daemon's disk; a tmpfs volume lives only while mounted, hence the holder container.
        """
        if self._workspace_ready:
            return
        api = self.client.api
        if self.workspace_size:
            opts = {
                "type": "tmpfs",
                "device": "tmpfs",
                "o": f"size={self.workspace_size},nr_inodes={self.workspace_inodes},uid=1000,gid=1000,mode=0755,nosuid,nodev",
            }
        else:
            opts = {}
        try:
            api.inspect_volume(self.volume)
        except docker.errors.NotFound:
            api.create_volume(self.volume, driver="local", driver_opts=opts, labels=self.labels)
        self._workspace_ready = True

    def _ensure_holder(self, image: str) -> None:
        # also for a plain (uncapped) volume: %%file writes through this container
        if self._holder_id is not None:
            return
        api = self.client.api
        host_config = self._host_config(Limits(memory=32 * MiB, cpus=0.1, pids=8))
        created = api.create_container(
            image,
            command=["sleep", "infinity"],
            user=SANDBOX_USER,
            working_dir=WORKSPACE,
            labels={**self.labels, LABEL_ROLE: "workspace"},
            network_disabled=True,
            host_config=host_config,
        )
        api.start(created["Id"])
        self._holder_id = created["Id"]

    def _revive_holder(self) -> None:
        """After a daemon restart the holder is stopped (and the in-memory workspace gone):
        start it again so the workspace stays mounted between cells from now on."""
        with self._workspace_lock:
            if self._holder_id is None or self.closed:
                return
            try:
                state = self.client.api.inspect_container(self._holder_id)["State"]
                if not state.get("Running"):
                    self.client.api.start(self._holder_id)
            except docker.errors.NotFound:
                self._holder_id = None  # made anew with the next container
            except Exception as exc:
                log.warning("could not check the workspace container: %s", exc)

    def image_id(self, image: str) -> str:
        """The image's content id (for provenance), cached."""
        if image not in self._image_ids:
            self._image_ids[image] = self.client.api.inspect_image(image)["Id"]
        return self._image_ids[image]

    def _prepare_workspace(self, image: str) -> None:
        """Create the workspace volume and its holder container now (blocking)."""
        try:
            with self._workspace_lock:
                if self.closed:
                    raise SandboxError("the kernel is shutting down")
                self._ensure_workspace()
                self._ensure_holder(image)
        except DockerKernelError:
            raise
        except Exception as exc:
            raise wrap_docker_error(exc, image) from exc

    def run_command_once(self, image: str, argv: list[str]) -> str:
        """Run a trusted one-off command (a version probe) in a locked-down container; its stdout."""
        try:
            output = self.client.containers.run(
                image, argv, remove=True, user=SANDBOX_USER, network_disabled=True, network_mode="none",
                read_only=True, cap_drop=["ALL"], security_opt=["no-new-privileges"], mem_limit="128m",
                pids_limit=32, tmpfs={"/tmp": "size=16m"}, labels={**self.labels, LABEL_ROLE: "probe"},
                stdout=True, stderr=False, working_dir="/tmp",
            )
            return output.decode("utf-8", "replace")
        except Exception as exc:
            raise wrap_docker_error(exc, image) from exc

    @staticmethod
    def _environment(language: Language, limits: Limits) -> dict:
        """The cell container's environment: the language's, plus gVisor's compatibility shim."""
        env = dict(language.env)
        if limits.runtime == "runsc":
            # see images/base/Dockerfile: makes ls/stat work under gVisor 20221219
            env["LD_PRELOAD"] = RUNSC_STATX_SHIM
            # the boot code adapts to gVisor (short pipe writes, see pyboot.whole_write_stdio)
            env["DK_RUNTIME"] = "runsc"
        return env

    def _create_started(self, language: Language, image: str, limits: Limits) -> CellContainer:
        """Create, attach (before start!) and start one cell container. Blocking."""
        self._prepare_workspace(image)
        try:
            api = self.client.api
            warm = bool(language.warm_command)
            created = api.create_container(
                image,
                command=language.container_command(),
                user=SANDBOX_USER,
                working_dir=WORKSPACE,
                environment=self._environment(language, limits),
                labels={**self.labels, LABEL_ROLE: "cell"},
                stdin_open=True,
                tty=False,
                network_disabled=limits.network == "none",
                host_config=self._host_config(limits),
            )
            container_id = created["Id"]
            try:
                attach = api.attach_socket(
                    container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                )
                api.start(container_id)
            except Exception:
                self._remove_quietly(container_id)
                raise
            return CellContainer(container_id, attach, warm, self.image_id(image))
        except Exception as exc:
            raise wrap_docker_error(exc, image) from exc

    def _remove_quietly(self, container_id: str) -> None:
        """Kill and remove a container; gone already is fine."""
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: another removal of it is already under way
                log.warning("could not remove %s: %s", container_id[:12], exc)
                self._unremoved.add(container_id)
        except Exception as exc:  # the daemon may be down: retried after the next cell
            log.warning("could not remove %s: %s", container_id[:12], exc)
            self._unremoved.add(container_id)

    def _retry_removals(self) -> None:
        """Remove what could not be removed before (the daemon was down)."""
        for container_id in list(self._unremoved):
            self._unremoved.discard(container_id)
            self._remove_quietly(container_id)

    def _dispose(self, container: CellContainer, pause: float = 0.0) -> None:
        """Blocking: after ``pause`` seconds, close and remove a used (or unwanted) container."""
        if pause:
            time.sleep(pause)
        container.close()
        self._remove_quietly(container.id)

    def _create_for_pool(self, language: Language, image: str, limits: Limits) -> CellContainer:
        """Blocking: a pool container, created after the pause that lets a cell's reply go out."""
        time.sleep(self.cleanup_delay)
        return self._create_started(language, image, limits)

    def _retire(self, container: CellContainer) -> None:
        """Close and remove a used (or unwanted) container in the background."""
        self._in_background(self._dispose, container)

    # -- pools -----------------------------------------------------------------------------
    def _pool_key(self, request: CellRequest) -> tuple:
        return (request.image, request.language.name, request.limits.container_key())

    def _pool_for(self, request: CellRequest) -> ContainerPool:
        key = self._pool_key(request)
        pool = self._pools.get(key)
        if pool is None:
            # a config change (limits, image, runtime) retires the containers built the old way
            for old_key in [k for k in self._pools if k[1] == request.language.name]:
                self._pools.pop(old_key).drain(self._retire)
            language, image, limits = request.language, request.image, request.limits
            pool = ContainerPool(
                create=lambda: self._create_for_pool(language, image, limits),
                size=self.pool_size,
                executor=self._executor,
            )
            self._pools[key] = pool
        return pool

    def warm_up(self, request: CellRequest) -> None:
        """Start filling the pool for cells like ``request`` (call from the event loop)."""
        if self.pool_size > 0 and not self.closed:
            self._pool_for(request).refill()

    async def _acquire(self, request: CellRequest) -> CellContainer:
        """A fresh container for this cell: from the pool when one is ready, else cold."""
        if self.pool_size > 0:
            pool = self._pool_for(request)
            while True:
                container = pool.take()
                if container is None:
                    break
                if container.looks_alive():
                    # refill once this cell has answered (or after a moment if it runs long):
                    # creating a container costs the daemon CPU the cell would compete for
                    asyncio.get_running_loop().call_later(self.refill_delay, pool.refill)
                    container.from_pool = True
                    return container
                self._retire(container)  # died while waiting (daemon restart, ...)
                await self._call(self._revive_holder)
            pool.refill()
        container = await self._call(self._create_started, request.language, request.image, request.limits)
        if self.pool_size > 0 and not self.closed:
            pool.failures = 0  # the daemon works again (or the image exists now): refill
            pool.refill()
        return container

    # -- running a cell --------------------------------------------------------------------
    async def run(self, request: CellRequest, on_event: EventCallback, on_input: InputCallback | None = None) -> CellOutcome:
        """Run one cell in a fresh container; ``on_event`` gets Output/Frame/Notice events.

        ``on_input`` answers the program's input requests; the wall-clock limit does not run
        while the user is being asked.
        """
        if self.closed:
            raise SandboxError("the sandbox is shut down")
        self._interrupt_pending = False
        self._starting_cell = True  # an interrupt from now on must not be lost
        try:
            container = await self._acquire(request)
        finally:
            self._starting_cell = False
        cell = _RunningCell(self, container, request, on_event, on_input)
        try:
            await cell.send()
        except SandboxError:
            # a pool container that died just now: one retry with a new container
            self._retire(container)
            container = await self._call(self._create_started, request.language, request.image, request.limits)
            cell = _RunningCell(self, container, request, on_event, on_input)
            try:
                await cell.send()
            except SandboxError:
                self._retire(container)
                raise
        self._current = cell
        if self._interrupt_pending:
            cell.stop("interrupt")
        try:
            return await cell.run()
        finally:
            cell.cancel_asks()
            self._current = None
            self.last_files = cell.files if cell.files is not None else self.last_files
            # after the kernel has replied (the next turn of the loop): removal and refill are
            # off the critical path
            loop = asyncio.get_running_loop()
            loop.call_soon(self._in_background, self._dispose, container, self.cleanup_delay)
            if self._unremoved:
                loop.call_soon(self._in_background, self._retry_removals)
            if self.pool_size > 0 and not self.closed:
                loop.call_soon(self._pool_for(request).refill)  # each creation pauses first

    def interrupt(self) -> bool:
        """Stop the running cell now (the container is killed); False if none runs."""
        cell = self._current
        if cell is None:
            if self._starting_cell:
                self._interrupt_pending = True  # honoured as soon as the container is there
                return True
            return False
        cell.stop("interrupt")
        return True

    async def write_file(self, path: str, data: bytes, image: str = "") -> None:
        """Write a file into the workspace without running a cell (for %%file).

        ``image`` is used for the workspace's holder container if it does not exist yet.
        """
        import io
        import tarfile

        name = os.path.normpath(path).lstrip("/")
        if name.startswith("workspace/"):
            name = name[len("workspace/") :]
        if name.startswith("..") or not name or name == ".":
            raise SandboxError(f"{path!r} is outside {WORKSPACE}")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, 1000, 1000, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if self._holder_id is None:
            if not image:
                raise SandboxError("no image known for the workspace container yet: run a cell first")
            await self._call(self._prepare_workspace, image)
        try:
            await self._call(self._refuse_links, name)
            ok = await self._call(self.client.api.put_archive, self._holder_id, WORKSPACE, buf.getvalue())
        except DockerKernelError:
            raise
        except Exception as exc:
            raise wrap_docker_error(exc) from exc
        if not ok:
            raise SandboxError(f"could not write {path}")

    def _stat(self, path: str) -> dict | None:
        """Docker's stat of a path in the workspace container (no following of the last link)."""
        import base64

        response = self.client.api.head(
            self.client.api._url("/containers/{0}/archive", self._holder_id), params={"path": path}
        )
        if response.status_code == 404:
            return None
        self.client.api._raise_for_status(response)
        return json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))

    def _refuse_links(self, name: str) -> None:
        """Cells may plant symlinks in the workspace: %%file never writes through one.

        Every existing component of the path must be a real directory and the file itself,
        if it exists, a regular file. No cell process is alive meanwhile (each cell's
        container is gone before the next request), so nothing can swap a link in between.
        """
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            target = f"{WORKSPACE}/{'/'.join(parts[:depth])}"
            stat = self._stat(target)
            if stat is None:
                return  # this and everything below it will be created by the archive
            mode = int(stat.get("mode", 0))
            is_link = bool(stat.get("linkTarget")) or mode & (1 << 27)
            is_dir = mode & (1 << 31)
            last = depth == len(parts)
            if is_link or (not last and not is_dir) or (last and is_dir):
                kind = "a symbolic link" if is_link else ("a directory" if is_dir else "not a directory")
                raise SandboxError(f"refusing to write {name}: {target} is {kind}")

    async def close(self) -> None:
        """Remove every container and the workspace volume of this kernel."""
        self.closed = True
        if self._current is not None:
            self._current.stop("interrupt")
        in_flight = []
        for pool in self._pools.values():
            in_flight += pool.pending()
            pool.drain(self._retire)
        self._pools.clear()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self._call(self.close_sync)
        finally:
            self._executor.shutdown(wait=False)

    def close_sync(self) -> None:
        """Blocking part of close: remove the holder, leftovers and the volume."""
        if self._client is None:
            return
        try:
            api = self.client.api
            with self._workspace_lock:  # no pool fill may create a holder behind our back
                self.closed = True
            # everything of this kernel, found by label: holder, cells, stragglers
            for info in api.containers(all=True, filters={"label": [f"{LABEL_KERNEL}={self.kernel_id}"]}):
                self._remove_quietly(info["Id"])
            self._holder_id = None
            try:
                api.remove_volume(self.volume, force=True)
            except docker.errors.NotFound:
                pass
            self._workspace_ready = False
        except Exception as exc:
            log.warning("cleanup incomplete (gc will finish it): %s", exc)


def compile_key(request: CellRequest, image_id: str) -> str | None:
    """What determines a compiled cell's build (image, compiler argv, file name, source), hashed."""
    if not request.compile:
        return None
    digest = hashlib.sha256()
    for part in (image_id, json.dumps(list(request.compile)), request.source_file or request.language.source_file):
        digest.update(part.encode() + b"\0")
    digest.update(request.source)
    return digest.hexdigest()


class _RunningCell:
    """The life of one cell inside its container (event loop side + reader thread)."""

    def __init__(self, sandbox: Sandbox, container: CellContainer, request: CellRequest, on_event: EventCallback,
                 on_input: InputCallback | None = None):
        self.sandbox = sandbox
        self.container = container
        self.request = request
        self.on_event = on_event
        self.on_input = on_input
        self.asking = 0  # input requests waiting for the user (the deadline is paused)
        self.ask_tasks: list[asyncio.Future] = []
        self.deadline = 0.0
        self.nonce = secrets.token_hex(16)
        self.end_token = secrets.token_hex(16)
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stop_reason: str | None = None
        self.files: list[str] | None = None
        limits = request.limits
        self.parsers = {
            name: protocol.FrameParser(self.nonce, self.end_token, max_frame=limits.max_frame)
            for name in ("stdout", "stderr")
        }
        self.text_budget = limits.output
        self.stderr_tail = bytearray()  # last bytes of stderr (exception names of other languages)
        self.display_budget = limits.display_budget

    def stop(self, reason: str) -> None:
        """Ask the cell to end now for ``reason`` (thread-safe)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.loop.call_soon_threadsafe(self.queue.put_nowait, ("stop", reason))

    def _reader(self) -> None:
        """Thread: demultiplex the attach stream, split frames, enforce the output cap."""
        sock = self.container.sock
        buf = bytearray()
        over_budget = False
        try:
            while True:
                try:
                    data = sock.recv(1 << 16)
                except (OSError, ValueError):
                    break
                if not data:
                    break
                buf += data
                batch = []
                while len(buf) >= 8:
                    size = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + size:
                        break
                    stream = "stderr" if buf[0] == 2 else "stdout"
                    payload = bytes(buf[8 : 8 + size])
                    del buf[: 8 + size]
                    for event in self.parsers[stream].feed(payload):
                        if isinstance(event, protocol.Text):
                            if over_budget:
                                continue
                            if len(event.data) > self.text_budget:
                                batch.append(Output(stream, event.data[: self.text_budget]))
                                self.text_budget = 0
                                over_budget = True
                                batch.append(("limit", "output"))
                                continue
                            self.text_budget -= len(event.data)
                            batch.append(Output(stream, event.data))
                            if stream == "stderr":
                                self.stderr_tail += event.data
                                del self.stderr_tail[:-8192]
                        elif isinstance(event, protocol.Frame):
                            if not event.from_runner:
                                self.display_budget -= len(str(event.payload))
                                if self.display_budget < 0:
                                    if not over_budget:
                                        over_budget = True
                                        batch.append(("limit", "output"))
                                    continue
                            batch.append((stream, event))
                        else:
                            batch.append(Notice(f"dockerkernel: {event.reason}; the frame was dropped"))
                if batch:
                    self.loop.call_soon_threadsafe(self.queue.put_nowait, ("events", batch))
        finally:
            tail = []
            for stream, parser in self.parsers.items():
                for event in parser.close():
                    if isinstance(event, protocol.Text) and not over_budget:
                        tail.append(Output(stream, event.data[: max(self.text_budget, 0)]))
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, ("events", tail))
                self.loop.call_soon_threadsafe(self.queue.put_nowait, ("eof", None))
            except RuntimeError:
                pass  # the loop is closed: the kernel is exiting

    async def send(self) -> None:
        """Hand the cell to the runner (header + source on stdin)."""
        request, container = self.request, self.container
        language = request.language
        payload = protocol.make_header(
            nonce=self.nonce,
            end_token=self.end_token,
            source=request.source,
            source_file=request.source_file or language.source_file,
            run=None if container.warm else list(request.run or language.run_command or ()),
            compile=None if container.warm else (list(request.compile) if request.compile else None),
            env=dict(request.env),
            execution_count=request.execution_count,
            stdin=request.stdin and self.on_input is not None,
            stdin_file=request.stdin_file or None,
            compile_key=compile_key(request, container.image_id) if not container.warm else None,
            state=request.state,
        )
        try:
            if len(payload) <= 1 << 16:
                container.send(payload)  # fits the socket buffer: no thread hop on the hot path
            else:
                await self.sandbox._call(container.send, payload)
        except OSError as exc:
            raise SandboxError(f"the cell container went away before the cell started: {exc}") from exc

    async def run(self) -> CellOutcome:
        """Relay the sent cell's events until it ends, and say how it ended."""
        request, container = self.request, self.container
        started = time.monotonic()
        # read only after the send: a TLS socket must not be written and read by two threads at once
        threading.Thread(target=self._reader, name="dockerkernel-reader", daemon=True).start()
        self.deadline = self.loop.time() + request.limits.timeout
        report: dict | None = None
        stderr_done = False
        error: dict | None = None
        reason: str | None = None
        eof = False
        while reason is None:
            remaining = None if self.asking else self.deadline - self.loop.time()
            if remaining is not None and remaining <= 0:
                reason = "timeout"
                break
            try:
                kind, value = await asyncio.wait_for(self.queue.get(), remaining)
            except asyncio.TimeoutError:
                reason = "timeout"
                break
            if kind == "tick":
                continue
            if kind == "stop":
                reason = value
            elif kind == "eof":
                eof = True
                break
            else:
                for event in value:
                    if isinstance(event, tuple) and event[0] == "limit":
                        reason = reason or event[1]
                        continue
                    if isinstance(event, tuple):
                        stream, frame = event
                        if frame.from_runner:
                            if frame.kind == "limit":
                                reason = reason or frame.payload.get("which", "limit")
                            elif frame.kind == "end" and stream == "stdout":
                                report = frame.payload
                            elif frame.kind == "end":
                                stderr_done = True
                            continue
                        if frame.kind == "error":
                            error = frame.payload
                            continue
                        if frame.kind == "input":
                            self._ask(frame.payload)
                            continue
                        self.on_event(frame)
                    else:
                        self.on_event(event)
                if report is not None and stderr_done:
                    break
        elapsed = time.monotonic() - started
        outcome = CellOutcome(
            reason="ok", error=error, elapsed=elapsed, container_id=container.id,
            image_id=container.image_id, warm=container.warm, from_pool=container.from_pool,
        )
        if reason is not None:
            # the cell must end now: kill it before anything else (interrupt within 1 s)
            await self.sandbox._call(self.sandbox._remove_quietly, container.id)
            outcome.reason = reason
            return outcome
        if report is None:
            # the runner never reported: the container died (runner OOM-killed, PID 1 killed, ...)
            return await self._post_mortem(outcome, eof)
        self.files = report.get("files")
        outcome.files = self.files
        outcome.exit_code = report.get("exit_code")
        outcome.signal = report.get("signal")
        outcome.stderr_tail = bytes(self.stderr_tail).decode("utf-8", "replace")
        if report.get("compile_failed"):
            outcome.reason = "compile"
            outcome.diagnostics = str(report.get("diagnostics") or "")
        elif report.get("oom_killed") and (outcome.exit_code or outcome.signal):
            outcome.reason = "oom"
        elif report.get("pids_limit_hit"):
            # a fork bomb's parent may exit 0 while its children still hit the limit
            outcome.reason = "pids"
        elif outcome.signal:
            outcome.reason = "signal"
        elif outcome.exit_code:
            outcome.reason = "exit"
        return outcome

    def _ask(self, payload: dict) -> None:
        """Forward an input request to the user; the answer goes back on the runner's stdin."""
        if self.on_input is None or not self.request.stdin:
            return  # the runner already closed the answer pipe: the program saw EOF
        self.asking += 1
        asked_at = self.loop.time()

        async def ask():
            answer = None
            try:
                answer = await self.on_input(str(payload.get("prompt", "")), bool(payload.get("password")))
            except Exception as exc:  # a frontend that fails to answer is end-of-file
                log.warning("input request failed: %s", exc)
            finally:
                self.asking -= 1
                self.deadline += self.loop.time() - asked_at  # waiting for a human is not run time
            try:
                self.container.send(json.dumps({"input": answer}).encode() + b"\n")
            except OSError:
                pass
            self.queue.put_nowait(("tick", None))

        self.ask_tasks.append(asyncio.ensure_future(ask()))

    def cancel_asks(self) -> None:
        """The cell is over: stop waiting for answers nobody will read."""
        for task in self.ask_tasks:
            task.cancel()

    async def _post_mortem(self, outcome: CellOutcome, eof: bool) -> CellOutcome:
        """Find out from the daemon why a container ended without the runner's report."""
        try:
            state = (await self.sandbox._call(self.sandbox.client.api.inspect_container, self.container.id))["State"]
        except Exception:
            outcome.reason = "lost"
            return outcome
        code = state.get("ExitCode")
        if state.get("OOMKilled"):
            outcome.reason = "oom"
        elif not eof or code is None:
            outcome.reason = "lost"
        elif code == 0:
            outcome.reason = "ok"  # the runner exits with the program's status
        elif 128 < code < 128 + 65:
            outcome.reason, outcome.signal = "signal", code - 128
        else:
            outcome.reason, outcome.exit_code = "exit", code
        return outcome
