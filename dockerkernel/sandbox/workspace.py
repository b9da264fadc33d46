"""The kernel's /workspace: a size-capped volume kept mounted by a tiny holder container.

The volume is a tmpfs with a size and inode cap, so filling it cannot fill the daemon's disk;
a tmpfs volume lives only while mounted, hence the holder, which also serves ``%%file``
(``write_file``) without running a cell. ``WorkspaceMixin`` is part of ``Sandbox``; it uses the
sandbox's ``client``, ``labels``, ``volume``, ``_call`` and locks.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import time

import docker
import docker.errors

from ..cells import Limits
from ..errors import DockerKernelError, SandboxError
from . import engine
from .connection import wrap_docker_error
from .engine import SANDBOX_USER, WORKSPACE, MiB
from .labels import LABEL_ROLE, log


class WorkspaceMixin:
    """Workspace methods of ``Sandbox`` (see the module docstring)."""

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
                "o": f"size={self.workspace_size},nr_inodes={self.workspace_inodes},"
                "uid=1000,gid=1000,mode=0755,nosuid,nodev",
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
        host_config = engine.host_config(api, Limits(memory=32 * MiB, cpus=0.1, pids=8), self.volume)
        # The holder lives exactly as long as this kernel's connection to the daemon: it waits
        # for the end of its stdin, which comes when our attach connection drops (the kernel
        # killed, its server or node lost), and then removes itself. Nothing of a dead kernel
        # keeps running on a shared daemon; its volume is then unused (`dockerkernel gc --node`).
        host_config["AutoRemove"] = True
        config = api.create_container_config(
            image,
            command=["sh", "-c", "exec cat >/dev/null"],
            user=SANDBOX_USER,
            working_dir=WORKSPACE,
            labels={**self.labels, LABEL_ROLE: "workspace"},
            network_disabled=True,
            stdin_open=True,
            host_config=host_config,
        )
        config["StdinOnce"] = True  # the daemon closes its stdin when our attach connection ends
        created = api.create_container_from_config(config)
        try:
            attach = api.attach_socket(created["Id"], params={"stdin": 1, "stream": 1})
            api.start(created["Id"])
        except Exception:
            api.remove_container(created["Id"], force=True)
            raise
        self._holder_attach = attach  # keep it referenced: closing it ends the holder
        self._holder_image = image
        self._holder_id = created["Id"]

    def _revive_holder(self) -> None:
        """After a daemon restart the holder is gone or stopped (and the in-memory workspace
        with it): make a new one, attached, so the workspace stays mounted between cells."""
        with self._workspace_lock:
            if self._holder_id is None or self.closed:
                return
            try:
                try:
                    if self.client.api.inspect_container(self._holder_id)["State"].get("Running"):
                        return
                    self.client.api.remove_container(self._holder_id, force=True)
                except docker.errors.NotFound:
                    pass  # removed itself (AutoRemove) when it stopped
                self._holder_id = None
                self._ensure_holder(self._holder_image)
            except Exception as exc:
                log.warning("could not renew the workspace container: %s", exc)

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
            raise wrap_docker_error(exc, image, self._daemon_name()) from exc
    async def write_file(self, path: str, data: bytes, image: str = "") -> None:
        """Write a file into the workspace without running a cell (for %%file).

        ``image`` is used for the workspace's holder container if it does not exist yet.
        """
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
