"""One cell in one fresh container: create → attach → start → send → stream → end → remove.

This is the Docker side of dockerkernel; it never imports ipykernel. The kernel hands it a
``CellRequest`` and a callback for output events, and gets back a ``CellOutcome`` that says how
the cell ended (a ``cells.Reason``).

Why it looks like this (see DESIGN.md §4/§5):
* attach before start, or a short program's output is lost;
* the end of a cell is signalled in-band by the runner (protocol.py), so we answer as soon as
  the program is done, even if a background process still holds the output pipe open, and
  the container is removed afterwards, off the critical path;
* our own deadline: ``wait(timeout=)`` is only an HTTP timeout;
* every object carries our labels, so ``sweep`` can remove what a dead kernel left behind.

The package, by concern: ``labels`` (labels, owners, sweep), ``connection`` (reaching the
daemon, the one docker-error translation), ``engine`` (HostConfig, attach demux, the
container handle), ``workspace`` (the /workspace volume and %%file), ``pool`` (pre-started
containers), ``running`` (one cell's life). ``Sandbox`` below ties them together.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time

import docker
import docker.errors

from ..cells import (
    CellOutcome,
    CellRequest,
    EventCallback,
    InputCallback,
    Limits,
    Notice,
    Output,
    Reason,
)
from ..errors import SandboxError
from ..languages import Language
from . import engine
from .connection import client_from_environment, connect, wrap_docker_error
from .engine import SANDBOX_USER, WORKSPACE, CellContainer, MiB
from .labels import (
    LABEL_HOST,
    LABEL_KERNEL,
    LABEL_PID,
    LABEL_PIDSTART,
    LABEL_ROLE,
    log,
    owner_alive,
    process_start_time,
    remove_labelled,
    sweep,
    sweep_node,
    this_host,
)
from .pool import ContainerPool, PoolsMixin
from .running import RunningCell
from .workspace import WorkspaceMixin

__all__ = [
    "Sandbox", "CellRequest", "CellOutcome", "Limits", "Output", "Notice", "Reason", "CellContainer",
    "EventCallback", "InputCallback", "LABEL_KERNEL", "LABEL_PID", "LABEL_PIDSTART", "LABEL_HOST", "LABEL_ROLE",
    "WORKSPACE", "SANDBOX_USER", "MiB", "sweep", "sweep_node", "remove_labelled", "owner_alive", "process_start_time",
    "this_host", "connect", "client_from_environment", "wrap_docker_error", "ContainerPool",
]


class Sandbox(WorkspaceMixin, PoolsMixin):
    """The containers of one kernel: its workspace, its pools, its running cell.

    The public verbs are ``run``, ``interrupt``, ``write_file``, ``warm_up`` and ``close``
    (``close_sync`` from a thread or at exit). They raise ``DockerKernelError`` subclasses:
    ``DaemonUnavailable``, ``ImageMissing``, ``SandboxError``.
    """

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
        self._holder_attach = None  # the holder's stdin: it ends when this connection drops
        self._holder_image = ""
        self._workspace_ready = False
        self._workspace_lock = threading.Lock()  # pool fills run in parallel threads
        self._executor = concurrent.futures.ThreadPoolExecutor(docker_workers, thread_name_prefix="dockerkernel")
        self._pools: dict[tuple, ContainerPool] = {}
        self._background: set[asyncio.Future] = set()
        self._current: RunningCell | None = None
        self._unremoved: set[str] = set()  # removals that failed (daemon down), retried later
        self._starting_cell = False
        self._interrupt_pending = False
        self._image_ids: dict[str, str] = {}
        self._daemon: dict | None = None
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

    def daemon_identity(self, cached_only: bool = False) -> dict:
        """``{"name", "id"}`` of the daemon that runs our cells (``docker info`` Name and ID).

        On a cluster that is the node's cell daemon, so a cell's provenance names its node.
        Asked once per sandbox (blocking: call it from a worker thread); ``{}`` when the daemon
        does not say, or when ``cached_only`` and it was not asked yet.
        """
        if self._daemon is None and not cached_only:
            try:
                info = self.client.info()
                self._daemon = {"name": info.get("Name", ""), "id": info.get("ID", "")}
            except Exception:  # noqa: BLE001  (provenance never fails a cell)
                self._daemon = {}
        return self._daemon or {}

    def _daemon_name(self) -> str:
        """The daemon's name for error messages ("" when unknown)."""
        return self.daemon_identity().get("name", "")

    def image_id(self, image: str) -> str:
        """The image's content id (for provenance), cached."""
        if image not in self._image_ids:
            self._image_ids[image] = self.client.api.inspect_image(image)["Id"]
        return self._image_ids[image]
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
            raise wrap_docker_error(exc, image, self._daemon_name()) from exc

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
                environment=engine.environment(language, limits),
                labels={**self.labels, LABEL_ROLE: "cell"},
                stdin_open=True,
                tty=False,
                network_disabled=limits.network == "none",
                host_config=engine.host_config(api, limits, self.volume),
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
            self.daemon_identity()  # cached here, in a worker thread, for the cell's provenance
            return CellContainer(container_id, attach, warm, self.image_id(image))
        except Exception as exc:
            raise wrap_docker_error(exc, image, self._daemon_name()) from exc

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

    # -- running a cell --------------------------------------------------------------------
    async def run(
        self, request: CellRequest, on_event: EventCallback, on_input: InputCallback | None = None
    ) -> CellOutcome:
        """Run one cell in a fresh container; ``on_event`` gets Output/Frame/Notice events.

        Raises ``SandboxError`` (shut down, container lost before the cell started),
        ``ImageMissing`` and ``DaemonUnavailable``.

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
        cell = RunningCell(self, container, request, on_event, on_input)
        try:
            await cell.send()
        except SandboxError:
            # a pool container that died just now: one retry with a new container
            self._retire(container)
            container = await self._call(self._create_started, request.language, request.image, request.limits)
            cell = RunningCell(self, container, request, on_event, on_input)
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
        """Blocking part of close: remove everything of this kernel, found by label (holder, cells, volume)."""
        if self._client is None:
            return
        try:
            with self._workspace_lock:  # no pool fill may create a holder behind our back
                self.closed = True
            remove_labelled(self.client, f"{LABEL_KERNEL}={self.kernel_id}")
            self._holder_id = None
            if self._holder_attach is not None:
                self._holder_attach.close()
                self._holder_attach = None
            try:
                self.client.api.remove_volume(self.volume, force=True)  # unlabelled by an older version
            except docker.errors.NotFound:
                pass
            self._workspace_ready = False
        except Exception as exc:
            log.warning("cleanup incomplete (gc will finish it): %s", exc)

