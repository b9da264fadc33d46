"""The base OS image ``debian:bookworm-slim``: pulled, or bootstrapped with debootstrap and imported."""

from __future__ import annotations

import collections
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from ..errors import ImageBuildError
from . import (
    BASE_OS_IMAGE,
    BASE_OS_SUITE,
    PULL_STALL_TIMEOUT,
    Progress,
    _one_line,
    _tail,
)
from .debian import _image_apt_sources, find_debian_mirror

# --------------------------------------------------------------------------------------
# Base OS image: pull, or debootstrap + docker import
# --------------------------------------------------------------------------------------


def _get_image(client: docker.DockerClient, ref: str):
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def ensure_base_os(client: docker.DockerClient, progress: Progress = print) -> str:
    """Make sure ``debian:bookworm-slim`` exists (pull, else debootstrap); return its id."""
    img = _get_image(client, BASE_OS_IMAGE)
    if img is not None:
        return img.id
    progress(f"base-os: {BASE_OS_IMAGE} is missing; trying to pull it")
    if _try_pull(client, progress):
        img = _get_image(client, BASE_OS_IMAGE)
        if img is not None:
            return img.id
    progress(f"base-os: no registry; bootstrapping {BASE_OS_IMAGE} with debootstrap")
    _bootstrap_base_os(client, progress)
    img = _get_image(client, BASE_OS_IMAGE)
    if img is None:
        raise ImageBuildError(f"{BASE_OS_IMAGE} is still missing after docker import")
    return img.id


def _try_pull(client: docker.DockerClient, progress: Progress) -> bool:
    """Pull the base OS image; give up when the daemon reports nothing for a while."""
    repo, tag = BASE_OS_IMAGE.split(":")
    events: queue.Queue = queue.Queue()

    # The SDK's pull has no timeout (and the daemon may retry a dead registry for long), so
    # it runs in a daemon thread and we stop listening when it stalls.
    def worker() -> None:
        try:
            for ev in client.api.pull(repo, tag=tag, stream=True, decode=True):
                events.put(("event", ev))
            events.put(("done", None))
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            events.put(("error", exc))

    threading.Thread(target=worker, name="dockerkernel-pull", daemon=True).start()
    last_status = None
    while True:
        try:
            kind, value = events.get(timeout=PULL_STALL_TIMEOUT)
        except queue.Empty:
            progress(f"base-os: pull made no progress for {PULL_STALL_TIMEOUT:.0f} s; giving up")
            return False
        if kind == "done":
            return True
        if kind == "error":
            progress(f"base-os: pull failed: {_one_line(value)}")
            return False
        if "error" in value:
            progress(f"base-os: pull failed: {_one_line(value['error'])}")
            return False
        status = value.get("status")
        # Per-layer "Downloading" ticks are noise; print each distinct status once.
        if status and "progress" not in value and status != last_status:
            progress(f"base-os: {status}")
            last_status = status


def _install_debootstrap(progress: Progress) -> str:
    """Install debootstrap with apt-get (root only); return its path."""
    if os.geteuid() != 0:
        raise ImageBuildError(
            "debootstrap is needed to create the Debian base image (no registry answered) "
            "but is not installed; install it (apt-get install debootstrap) or run this as root"
        )
    progress("base-os: installing debootstrap with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        # Stale or missing package lists: refresh once and retry.
        subprocess.run(["apt-get", "update"], env=env, capture_output=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageBuildError(f"apt-get install debootstrap failed:\n{_tail(proc.stderr)}")
    path = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if not path:
        raise ImageBuildError("debootstrap was installed but is not on PATH")
    return path


# debootstrap prints one line per package and phase; keep the phase lines only.
_DEBOOTSTRAP_NOISE = re.compile(
    r"^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Checking component)\b"
)


def _bootstrap_base_os(client: docker.DockerClient, progress: Progress) -> None:
    """debootstrap a minimal bookworm into a temp dir and ``docker import`` it."""
    mirror = find_debian_mirror()
    image_sources = _image_apt_sources(mirror)
    debootstrap = shutil.which("debootstrap") or shutil.which(
        "debootstrap", path="/usr/sbin:/sbin"
    )
    if not debootstrap:
        debootstrap = _install_debootstrap(progress)
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"creating {BASE_OS_IMAGE} with debootstrap needs root (chroot, mknod); run "
            "`dockerkernel images build` once as root, or make the image available to the "
            "daemon another way (docker load / a registry)"
        )
    # /var/tmp rather than /tmp: the rootfs is ~150 MB and /tmp is often a small tmpfs.
    scratch = "/var/tmp" if os.path.isdir("/var/tmp") else None
    tmp = tempfile.mkdtemp(prefix="dockerkernel-rootfs-", dir=scratch)
    rootfs = os.path.join(tmp, "rootfs")
    try:
        cmd = [debootstrap, "--variant=minbase"]
        if "https://" in image_sources:
            # apt inside later builds talks https to a mirror, which needs the CA store.
            cmd.append("--include=ca-certificates")
        cmd += [BASE_OS_SUITE, rootfs, mirror]
        progress(f"base-os: {' '.join(cmd)}")
        started = time.monotonic()
        tail: collections.deque[str] = collections.deque(maxlen=30)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            if line and not _DEBOOTSTRAP_NOISE.match(line):
                progress(f"base-os: {line}")
        if proc.wait() != 0:
            log = Path(rootfs, "debootstrap", "debootstrap.log")
            extra = _tail(log.read_text(errors="replace")) if log.is_file() else ""
            raise ImageBuildError(
                f"debootstrap failed (exit {proc.returncode}) with mirror {mirror}:\n"
                + "\n".join(tail)
                + (f"\n--- debootstrap.log ---\n{extra}" if extra else "")
            )
        progress(f"base-os: debootstrap done in {time.monotonic() - started:.0f} s")
        _trim_rootfs(Path(rootfs))
        Path(rootfs, "etc/apt/sources.list").write_text(image_sources)
        _import_rootfs(client, rootfs, progress)
    finally:
        _safe_rmtree(tmp, progress)


def _trim_rootfs(rootfs: Path) -> None:
    """Drop package caches and lists from the bootstrapped tree (as the slim images do)."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for p in rootfs.glob(pattern):
            if p.is_file() and not p.is_symlink():
                p.unlink()
    # A chroot-friendly hostname/resolv.conf come from the daemon at run time.
    for name in ("etc/hostname", "etc/resolv.conf"):
        p = rootfs / name
        if p.is_file() and not p.is_symlink():
            p.unlink()


def _import_rootfs(client: docker.DockerClient, rootfs: str, progress: Progress) -> None:
    """Stream ``tar -C rootfs -c .`` into the daemon's image import (never held in memory)."""
    repo, tag = BASE_OS_IMAGE.split(":")
    progress(f"base-os: importing the root filesystem as {BASE_OS_IMAGE}")
    errlog = tempfile.TemporaryFile()
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", rootfs, "--exclude=./dev/*", "--exclude=./proc/*",
         "--exclude=./sys/*", "--exclude=./debootstrap", "-cf", "-", "."],
        stdout=subprocess.PIPE,
        stderr=errlog,
    )

    def chunks() -> Iterator[bytes]:
        assert tar.stdout is not None
        while True:
            block = tar.stdout.read(1 << 20)
            if not block:
                return
            yield block

    try:
        result = client.api.import_image_from_stream(
            chunks(), repository=repo, tag=tag, changes=['CMD ["bash"]']
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        tar.kill()
        raise ImageBuildError(f"docker import of the bootstrapped rootfs failed: {exc}") from exc
    finally:
        rc = tar.wait()
        errlog.seek(0)
        tar_err = errlog.read().decode(errors="replace")
        errlog.close()
    if rc != 0:
        raise ImageBuildError(f"tar of the bootstrapped rootfs failed (exit {rc}): {tar_err}")
    if '"error"' in (result or ""):
        raise ImageBuildError(f"docker import failed: {result}")
    progress(f"base-os: imported {BASE_OS_IMAGE}")


def _mountpoints_under(path: str) -> list[str]:
    real = os.path.realpath(path)
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 2:
                continue
            # /proc/mounts escapes blanks as octal (\040).
            mnt = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            if mnt == real or mnt.startswith(real + "/"):
                found.append(mnt)
    return found


def _safe_rmtree(path: str, progress: Progress) -> None:
    """Remove the bootstrap dir, but never through a mount debootstrap may have left behind.

    A failed debootstrap can leave /proc, /sys or a bind mount of the host's /dev inside
    the target; deleting through those would damage the host.
    """
    for mnt in sorted(_mountpoints_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    left = _mountpoints_under(path)
    if left:
        progress(f"base-os: NOT removing {path}: still mounted: {', '.join(left)}")
        return
    shutil.rmtree(path, ignore_errors=True)
