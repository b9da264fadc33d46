"""Package environments on the daemon: content-addressed volumes, the installer container, gc.

An environment (see ``dockerkernel.packages``) is a named volume ``dockerkernel-pkgs-<key>``
labelled ``dockerkernel.packages=<key>`` (plus the language and the requirement list). It is
made once by a single-use **installer container** of the cell image:

* the only container of a kernel with a network (the daemon's default bridge; ``none`` when
  every requirement is a local file), never running cell code;
* user 1000, read-only root, a tmpfs /tmp, no capabilities, no-new-privileges, the kernel's
  memory, CPU and pids limits and its own wall-clock limit; labelled like every object of the
  kernel (a sweep or the watchdog removes it if the kernel dies) and removed after use;
* the environment's volume read-write at ``PACKAGES_MOUNT`` (and nothing else writable), the
  kernel's workspace read-only at /workspace (local package files);
* the host's CA bundle arrives on its stdin (so it works with a remote or nested daemon, and
  never lands in the volume); its output is streamed to the caller as it comes.

A successful install is marked by a second, empty volume ``<name>.ok`` (asking the daemon
whether it exists is the whole cost of a cache hit); a volume without it (an install that
failed or was cut off) is never used, and is removed. Each use writes the time into
``.dk/last-used`` (a tiny network-less container, off the critical path), which ``gc`` reads.
Cells mount the volume read-only (``engine.host_config``).
"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
from collections.abc import Callable

import docker
import docker.errors
from docker.types import LogConfig, Mount

from ..cells import Limits
from ..errors import DockerKernelError
from ..packages import PACKAGES_MOUNT, WORKSPACE, Manager, last_error_line, volume_name
from .engine import SANDBOX_USER, demux
from .labels import LABEL_HOST, LABEL_ROLE, log, remove_labelled, this_host

LABEL_PACKAGES = "dockerkernel.packages"  # the environment's key
LABEL_PACKAGES_LANGUAGE = "dockerkernel.packages.language"
LABEL_REQUIREMENTS = "dockerkernel.packages.requirements"  # JSON list, for people reading `docker volume ls`
LABEL_COMPLETE = "dockerkernel.packages.complete"  # on the marker volume of a finished environment
LAST_USED = ".dk/last-used"
COMPLETE_SUFFIX = ".ok"


class InstallError(DockerKernelError, RuntimeError):
    """An install failed; the message is the installer's own last error line."""


def _quiet_remove_volume(api, name: str) -> None:
    try:
        api.remove_volume(name, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        log.warning("could not remove %s: %s", name, exc)


def _hardened(api, limits: Limits, mounts: list, network: str) -> dict:
    """HostConfig of the helper containers of this module (as locked down as a cell's)."""
    return api.create_host_config(
        mem_limit=limits.memory, memswap_limit=limits.memory, nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids, network_mode=network, read_only=True,
        tmpfs={"/tmp": f"rw,exec,nosuid,nodev,size={max(limits.tmp_size, 256 << 20)},mode=1777"},
        cap_drop=["ALL"], security_opt=["no-new-privileges"], init=True, log_config=LogConfig(type="none"),
        mounts=mounts,
    )


def _run_small(client: docker.DockerClient, image: str, script: str, volume: str, labels: dict,
               writable: bool) -> tuple[int, bytes]:
    """Run ``sh -c script`` in a tiny network-less container with ``volume`` at PACKAGES_MOUNT."""
    api = client.api
    limits = Limits(memory=64 << 20, cpus=0.5, pids=16, tmp_size=1 << 20)
    host = _hardened(api, limits, [Mount(PACKAGES_MOUNT, volume, type="volume", read_only=not writable)], "none")
    created = api.create_container(image, ["sh", "-c", script + " 2>&1"], user=SANDBOX_USER, labels=labels,
                                   environment={"HOME": "/tmp"},
                                   network_disabled=True, host_config=host)
    try:
        attach = api.attach_socket(created["Id"], params={"stdout": 1, "stderr": 1, "stream": 1})
        api.start(created["Id"])
        output = _read_all(attach, lambda stream, data: None, time.monotonic() + 30)
        status = api.wait(created["Id"], timeout=30).get("StatusCode", 1)
        return status, output
    finally:
        try:
            api.remove_container(created["Id"], force=True)
        except docker.errors.APIError:
            pass


def _read_all(attach, on_output: Callable[[str, bytes], None], deadline: float) -> bytes:
    """Read a container's attach stream to its end, passing each chunk on; returns all of it."""
    sock = getattr(attach, "_sock", attach)
    sock.settimeout(1.0)
    buf = bytearray()
    everything = bytearray()
    try:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            for stream, payload in demux(buf):
                everything += payload
                on_output(stream, payload)
        else:
            raise TimeoutError
    finally:
        try:
            sock.close()
        except OSError:
            pass
    return bytes(everything)


def complete_marker(name: str) -> str:
    """The volume whose existence says that environment volume ``name`` is complete."""
    return name + COMPLETE_SUFFIX


def _exists(api, name: str) -> bool:
    try:
        api.inspect_volume(name)
        return True
    except docker.errors.NotFound:
        return False


def ready_environment(client: docker.DockerClient, key: str, wait: float = 600.0) -> str | None:
    """The volume of environment ``key`` if it exists and is complete, else None (blocking).

    Another kernel's installer still making it is waited for (up to ``wait`` seconds); a
    volume left incomplete (a failed or cut-off install) is removed. The caller stamps the
    use (``stamp_used``), preferably in the background.
    """
    api = client.api
    name = volume_name(key)
    deadline = time.monotonic() + wait
    seen_installer = False
    while True:
        if _exists(api, complete_marker(name)) and _exists(api, name):
            return name
        if not _exists(api, name):
            return None
        installing = api.containers(all=True, filters={"label": [f"{LABEL_PACKAGES}={key}"]})
        if not installing and not seen_installer:
            # another kernel may be between creating the volume and its installer: look again
            time.sleep(2.0)
            installing = api.containers(all=True, filters={"label": [f"{LABEL_PACKAGES}={key}"]})
        seen_installer = seen_installer or bool(installing)
        if not installing and _exists(api, complete_marker(name)):
            continue
        if not installing or time.monotonic() > deadline:
            _quiet_remove_volume(api, name)
            return None
        time.sleep(1.0)  # the same list is being installed by another kernel: use its result


def stamp_used(client: docker.DockerClient, image: str, name: str, labels: dict) -> None:
    """Write the time into the environment's last-used file (for ``gc``), in a tiny container."""
    script = f"date +%s > {PACKAGES_MOUNT}/{LAST_USED}"
    _run_small(client, image, script, name, {**labels, LABEL_ROLE: "packages-stamp"}, writable=True)


def install_environment(
    client: docker.DockerClient, *, key: str, manager: Manager, requirements: list[str], argv: list[str],
    image: str, labels: dict, limits: Limits, timeout: float, env: dict, ca_bundle: bytes, network: str,
    workspace: str | None, on_output: Callable[[str, bytes], None],
) -> str:
    """Make environment ``key`` in a single-use installer container; returns the volume name.

    ``argv`` is the manager's install command (``Manager.install_argv``); ``env`` the index
    settings; ``ca_bundle`` the CA certificates to trust (PEM, may be empty); ``workspace`` the
    kernel's workspace volume, mounted read-only at /workspace (None: not mounted). Output goes
    to ``on_output(stream, bytes)`` while it comes. Raises ``InstallError`` (the installer
    failed or ran past ``timeout`` seconds: the volume is removed) and docker's errors.
    """
    api = client.api
    name = volume_name(key)
    volume_labels = {
        LABEL_PACKAGES: key, LABEL_PACKAGES_LANGUAGE: manager.language, LABEL_HOST: this_host(),
        LABEL_REQUIREMENTS: json.dumps(requirements)[:4000],
    }
    api.create_volume(name, driver="local", labels=volume_labels)
    mounts = [Mount(PACKAGES_MOUNT, name, type="volume")]
    if workspace:
        mounts.append(Mount(WORKSPACE, workspace, type="volume", read_only=True))
    environment = {"HOME": "/tmp", "npm_config_cache": "/tmp/npm-cache", "PIP_CERT": "", **env}
    if ca_bundle:
        environment.update({"PIP_CERT": "/tmp/dk-ca.crt", "SSL_CERT_FILE": "/tmp/dk-ca.crt",
                            "npm_config_cafile": "/tmp/dk-ca.crt", "NODE_EXTRA_CA_CERTS": "/tmp/dk-ca.crt"})
    else:
        environment.pop("PIP_CERT")
    script = f'cat > /tmp/dk-ca.crt && "$@" && date +%s > {PACKAGES_MOUNT}/{LAST_USED}'
    created = None
    ok = False
    try:
        try:
            # the name is the lock: one installer per environment on the daemon at a time
            created = api.create_container(
                image, ["sh", "-c", script, "installer", *argv], user=SANDBOX_USER,
                name=f"dockerkernel-install-{key[:24]}", working_dir=WORKSPACE if workspace else "/tmp",
                environment=environment,
                labels={**labels, LABEL_ROLE: "installer", LABEL_PACKAGES: key}, stdin_open=True,
                network_disabled=network == "none", host_config=_hardened(api, limits, mounts, network),
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            ok = True  # the volume is the other installer's
            ready = ready_environment(client, key, wait=timeout)
            if ready is None:
                raise InstallError("another kernel's install of the same packages failed; try again") from None
            return ready
        _own_volume_root(client, image, name, manager.subdir, labels)
        _run_installer(api, created["Id"], ca_bundle, on_output, timeout, limits)
        api.create_volume(complete_marker(name), driver="local", labels={LABEL_COMPLETE: key, LABEL_HOST: this_host()})
        ok = True
        return name
    finally:
        if created is not None:
            try:
                api.remove_container(created["Id"], force=True)
            except docker.errors.APIError as exc:
                log.warning("could not remove the installer %s: %s", created["Id"][:12], exc)
        if not ok:
            _quiet_remove_volume(api, name)


def _run_installer(api, container_id: str, ca_bundle: bytes, on_output, timeout: float, limits: Limits) -> None:
    """Start the created installer, feed it the CA bundle, stream its output; raise ``InstallError``
    unless it succeeds within ``timeout`` seconds."""
    attach = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    api.start(container_id)
    sock = getattr(attach, "_sock", attach)
    sock.sendall(ca_bundle)
    sock.shutdown(socket.SHUT_WR)  # end of the CA bundle: the install starts
    try:
        output = _read_all(attach, on_output, time.monotonic() + timeout)
    except TimeoutError:
        raise InstallError(f"the install took longer than {timeout:g} s (DockerKernel.install_timeout)") from None
    status = api.wait(container_id, timeout=30).get("StatusCode", 1)
    if api.inspect_container(container_id)["State"].get("OOMKilled"):
        raise InstallError(f"the installer ran out of memory ({limits.memory >> 20} MiB; %memory sets it)")
    if status != 0:
        raise InstallError(last_error_line(output.decode("utf-8", "replace")))


def _own_volume_root(client: docker.DockerClient, image: str, volume: str, subdir: str, labels: dict) -> None:
    """A new volume's root belongs to root: make the manager's directory and ``.dk`` in it, owned
    by the sandbox user (put_archive into a created, never started container; the volume root
    itself stays root's, so nothing else can be written there)."""
    api = client.api
    created = api.create_container(image, ["true"], labels={**labels, LABEL_ROLE: "packages-stamp"},
                                   network_disabled=True,
                                   host_config=api.create_host_config(
                                       read_only=True, network_mode="none",
                                       mounts=[Mount(PACKAGES_MOUNT, volume, type="volume")]))
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for entry in (subdir, ".dk"):
                info = tarfile.TarInfo(entry)
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, 0o755, 1000, 1000
                info.mtime = int(time.time())
                tar.addfile(info)
        api.put_archive(created["Id"], PACKAGES_MOUNT, buf.getvalue())
    finally:
        api.remove_container(created["Id"], force=True)


def list_packages(client: docker.DockerClient, image: str, volume: str, script: str, labels: dict) -> str:
    """What the manager's ``script`` lists in an environment (mounted read-only, no network)."""
    status, output = _run_small(client, image, script, volume, {**labels, LABEL_ROLE: "packages-list"},
                                writable=False)
    return output.decode("utf-8", "replace")


def last_used(client: docker.DockerClient, image: str, volume: str) -> float | None:
    """When environment ``volume`` was last used (epoch seconds), None if it never completed."""
    try:
        status, output = _run_small(client, image, f"cat {PACKAGES_MOUNT}/{LAST_USED}", volume,
                                    {LABEL_ROLE: "packages-gc", LABEL_HOST: this_host()}, writable=False)
        return float(output.decode().strip()) if status == 0 else None
    except (ValueError, docker.errors.APIError):
        return None


def prune_environments(client: docker.DockerClient, older_than_days: float, image: str,
                       now: float | None = None, only: set[str] | None = None) -> list[str]:
    """Remove package environments not used for ``older_than_days`` (and incomplete ones);
    environments a container still mounts are kept. ``image``: any image with ``sh`` and ``cat``
    (reads the last-used stamp); ``now``: epoch seconds; ``only``: consider only these volume
    names. Returns the removed volume names."""
    api = client.api
    now = time.time() if now is None else now
    removed = []
    for info in api.volumes(filters={"label": LABEL_PACKAGES}).get("Volumes") or []:
        name = info["Name"]
        if only is not None and name not in only:
            continue
        if api.containers(all=True, filters={"volume": name}):
            continue  # a cell, a pool container or an installer has it
        used = last_used(client, image, name) if _exists(api, complete_marker(name)) else None
        if used is None or now - used > older_than_days * 86400:
            try:
                api.remove_volume(name)
                removed.append(name)
                _quiet_remove_volume(api, complete_marker(name))
            except docker.errors.APIError as exc:
                log.warning("could not remove %s: %s", name, exc)
    remove_labelled(client, f"{LABEL_ROLE}=packages-gc")
    for info in api.volumes(filters={"label": LABEL_COMPLETE}).get("Volumes") or []:
        marked = info["Name"][: -len(COMPLETE_SUFFIX)]
        if (only is None or marked in only) and not _exists(api, marked):
            _quiet_remove_volume(api, info["Name"])  # its environment is gone
    return removed
