"""Build dockerkernel's language images (``dockerkernel/<lang>:latest``) on a Docker daemon.

Docker side only: this module must not import ipykernel or jupyter_client.

How it fits together:

- ``dockerkernel/images/<lang>/Dockerfile`` ship inside the package; every language image is
  ``FROM dockerkernel/base:latest``, which is ``FROM debian:bookworm-slim``.
- ``debian:bookworm-slim`` is pulled when a registry answers; otherwise it is bootstrapped
  from the Debian mirror in the host's apt configuration (``debootstrap`` + ``docker
  import``), so the same Dockerfiles build with and without a registry.
- Each image carries the label ``dockerkernel.context-hash``: the sha256 of its build context
  plus the id of the image it is built ``FROM``. A build is skipped when the tagged image
  already carries the expected hash, so ``build_images`` only builds what is missing or
  changed, and a rebuilt base makes every language image stale.
- The in-container runner (``dockerkernel/incontainer/`` -> ``/opt/dockerkernel/``) is the last
  layer of each language image, not part of the base, so editing it rebuilds one small layer
  per image while the apt layers stay cached.
- An extra CA bundle (argument ``ca_bundle`` or env ``DOCKERKERNEL_CA_BUNDLE``) is put into the
  base image's trust store, for TLS-inspecting proxies.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import os
import queue
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

__all__ = [
    "IMAGE_PREFIX",
    "BASE_OS_IMAGE",
    "ImageBuildError",
    "BuildResult",
    "image_name",
    "available_languages",
    "debian_mirror_from_sources",
    "find_debian_mirror",
    "ensure_base_os",
    "make_build_context",
    "build_images",
    "list_images",
]

from .errors import ImageBuildError  # noqa: E402  (the one error tree: a DockerKernelError)
from .languages import IMAGE_PREFIX  # noqa: E402  (one source for image names)

BASE = "base"
# The tag the base Dockerfile builds FROM; a bootstrapped image gets the same name so the
# Dockerfiles need no variant for registry-less machines.
BASE_OS_IMAGE = "debian:bookworm-slim"
BASE_OS_SUITE = "bookworm"

LABEL_IMAGE = "dockerkernel.image"
LABEL_HASH = "dockerkernel.context-hash"
LABEL_LANGUAGE = "dockerkernel.language"

CA_BUNDLE_ENV = "DOCKERKERNEL_CA_BUNDLE"
MIRROR_ENV = "DOCKERKERNEL_DEBIAN_MIRROR"

PACKAGE_DIR = Path(__file__).resolve().parent
IMAGES_DIR = PACKAGE_DIR / "images"
INCONTAINER_DIR = PACKAGE_DIR / "incontainer"
# the frame codec, placed in the images as /opt/dockerkernel/python/dkwire.py (see wire.py)
WIRE_MODULE = PACKAGE_DIR / "wire.py"
WIRE_IN_CONTEXT = "incontainer/python/dkwire.py"

# A pull that sends nothing for this long is treated as "no registry" (fail fast).
PULL_STALL_TIMEOUT = 15.0

Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """Outcome of one image in ``build_images``."""

    language: str
    image: str
    image_id: str
    status: str  # "built" or "up to date"
    seconds: float
    context_hash: str


def image_name(lang: str) -> str:
    """Return the image reference of a language, e.g. ``dockerkernel/python:latest``."""
    return f"{IMAGE_PREFIX}{lang}:latest"


def available_languages() -> list[str]:
    """Return the languages that have a Dockerfile under ``dockerkernel/images/`` (not base)."""
    return sorted(
        p.name
        for p in IMAGES_DIR.iterdir()
        if p.is_dir() and p.name != BASE and (p / "Dockerfile").is_file()
    )


# --------------------------------------------------------------------------------------
# Debian mirror from the host's apt configuration
# --------------------------------------------------------------------------------------

# Codenames and aliases of Debian's main archive. Suites with a suffix (-security,
# -updates, -backports) are other archives or overlays, not something debootstrap can use.
_DEBIAN_SUITES = frozenset(
    "stable testing unstable sid oldstable oldoldstable "
    "jessie stretch buster bullseye bookworm trixie forky duke".split()
)


def _deb822_entries(text: str) -> Iterator[dict[str, str]]:
    """Yield the paragraphs of a deb822 ``.sources`` file as lower-cased key -> value."""
    para: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if para:
                yield para
            para, key = {}, None
            continue
        if raw[0] in " \t" and key is not None:  # continuation line
            para[key] += " " + raw.strip()
            continue
        k, sep, v = raw.partition(":")
        if sep:
            key = k.strip().lower()
            para[key] = v.strip()


def _one_line_entries(text: str) -> Iterator[dict[str, str]]:
    """Yield ``deb ...`` lines of a one-line-style ``sources.list`` in the deb822 key shape."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        kind, rest = tokens[0], tokens[1:]
        if rest and rest[0].startswith("["):  # options: [arch=amd64 signed-by=...]
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) < 2:
            continue
        yield {
            "types": kind,
            "uris": rest[0],
            "suites": rest[1],
            "components": " ".join(rest[2:]),
        }


def debian_mirror_from_sources(
    text: str, *, deb822: bool | None = None, security: bool = False
) -> str | None:
    """Return the first Debian main-archive (or security-archive) URI in apt sources text."""
    if deb822 is None:
        deb822 = re.search(r"^(Types|URIs)\s*:", text, re.I | re.M) is not None
    entries = _deb822_entries(text) if deb822 else _one_line_entries(text)
    for entry in entries:
        if entry.get("enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in entry.get("types", "").split():
            continue
        if "main" not in entry.get("components", "").split():
            continue
        suites = [s.strip("/") for s in entry.get("suites", "").split()]
        if security:
            # Any release's security suite: the security archive URI is the same for all.
            ok = any(s.endswith(("-security", "/updates")) and s.split("-")[0].split("/")[0]
                     in _DEBIAN_SUITES for s in suites)
        else:
            ok = any(s in _DEBIAN_SUITES for s in suites)
        if not ok:
            continue
        for uri in entry.get("uris", "").split():
            # http(s)/ftp only: the mirror is also written into the image and used by apt
            # inside builds, where file:, cdrom: and mirror+ methods cannot work.
            if re.match(r"(https?|ftp)://", uri) and ("security" in uri) == security:
                return uri.rstrip("/")
    return None


def _host_sources(apt_dir: str | os.PathLike) -> Iterator[tuple[str, bool]]:
    """Yield (text, is_deb822) of the host's apt sources, in the order apt reads them."""
    apt = Path(apt_dir)
    candidates: list[tuple[Path, bool]] = [(apt / "sources.list", False)]
    parts = apt / "sources.list.d"
    if parts.is_dir():
        for p in sorted(parts.iterdir()):
            if p.suffix == ".list":
                candidates.append((p, False))
            elif p.suffix == ".sources":
                candidates.append((p, True))
    for path, is_deb822 in candidates:
        try:
            yield path.read_text(errors="replace"), is_deb822
        except OSError:
            continue


def find_debian_mirror(apt_dir: str | os.PathLike = "/etc/apt") -> str:
    """Return the Debian mirror configured on this host (env DOCKERKERNEL_DEBIAN_MIRROR wins)."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return override.rstrip("/")
    for text, is_deb822 in _host_sources(apt_dir):
        mirror = debian_mirror_from_sources(text, deb822=is_deb822)
        if mirror:
            return mirror
    raise ImageBuildError(
        f"no Debian archive (a Debian suite, component main) found in {apt_dir}/sources.list "
        f"or {apt_dir}/sources.list.d/; set {MIRROR_ENV} to a Debian mirror URL"
    )


def _find_security_mirror(apt_dir: str | os.PathLike = "/etc/apt") -> str | None:
    for text, is_deb822 in _host_sources(apt_dir):
        mirror = debian_mirror_from_sources(text, deb822=is_deb822, security=True)
        if mirror:
            return mirror
    return None


def _image_apt_sources(mirror: str, apt_dir: str | os.PathLike = "/etc/apt") -> str:
    """sources.list for the bootstrapped image: release + updates (+ security if the host has it).

    debootstrap only writes the release suite; without -updates and -security, every
    image built on it would miss Debian's fixes.
    """
    lines = [f"deb {mirror} {BASE_OS_SUITE} main", f"deb {mirror} {BASE_OS_SUITE}-updates main"]
    security = _find_security_mirror(apt_dir)
    if security:
        lines.append(f"deb {security} {BASE_OS_SUITE}-security main")
    return "\n".join(lines) + "\n"


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


# --------------------------------------------------------------------------------------
# Build contexts
# --------------------------------------------------------------------------------------

_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".DS_Store"}
# Fixed tar metadata: the context (and so the daemon's layer cache) depends on content only.
_FIXED_MTIME = 1_000_000_000


@dataclasses.dataclass(frozen=True)
class _Entry:
    name: str  # path inside the context, "/"-separated
    data: bytes | None  # None for a directory
    mode: int


def _tree_entries(src: Path, prefix: str) -> list[_Entry]:
    """Files under ``src`` as context entries below ``prefix`` (modes normalised)."""
    entries = [_Entry(prefix.rstrip("/"), None, 0o755)] if prefix else []
    if not src.is_dir():
        return entries
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_NAMES)
        rel_root = Path(root).relative_to(src)
        for d in dirs:
            entries.append(_Entry(_join(prefix, rel_root / d), None, 0o755))
        for name in sorted(files):
            if name in _SKIP_NAMES or name.endswith((".pyc", ".pyo", "~")):
                continue
            p = Path(root, name)
            if p.is_symlink() or not p.is_file():
                continue
            data = p.read_bytes()
            # Scripts (a #! line) 0755, everything else 0644: the host checkout's modes
            # (umask, git core.fileMode) must not change the image or its hash.
            mode = 0o755 if data.startswith(b"#!") else 0o644
            entries.append(_Entry(_join(prefix, rel_root / name), data, mode))
    return entries


def _join(prefix: str, rel: Path) -> str:
    rel_s = rel.as_posix()
    if rel_s == ".":
        return prefix.rstrip("/")
    return f"{prefix}{rel_s}" if prefix else rel_s


def _read_ca_bundle(ca_bundle: str | os.PathLike) -> bytes:
    path = Path(ca_bundle)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageBuildError(f"cannot read CA bundle {path}: {exc}") from exc
    if b"-----BEGIN CERTIFICATE-----" not in data:
        # update-ca-certificates silently ignores DER or garbage; say so now instead.
        raise ImageBuildError(f"CA bundle {path} contains no PEM certificate")
    return data


def _context_entries(lang: str, ca_bundle: str | os.PathLike | None) -> list[_Entry]:
    folder = IMAGES_DIR / lang
    if not (folder / "Dockerfile").is_file():
        raise ImageBuildError(
            f"unknown language {lang!r}: no {folder}/Dockerfile "
            f"(available: {', '.join(available_languages())})"
        )
    entries = _tree_entries(folder, "")
    if lang != BASE:
        # The runner is each language image's last layer, not part of the base: editing it
        # must not make the base (and every apt layer built on it) stale.
        entries += _tree_entries(INCONTAINER_DIR, "incontainer/")
        entries = [e for e in entries if e.name != WIRE_IN_CONTEXT]
        entries.append(_Entry(WIRE_IN_CONTEXT, WIRE_MODULE.read_bytes(), 0o644))
    else:
        # Always present so the Dockerfile's COPY works with or without a bundle.
        entries.append(_Entry("extra-ca", None, 0o755))
        if ca_bundle:
            entries.append(_Entry("extra-ca/extra.crt", _read_ca_bundle(ca_bundle), 0o644))
    return sorted(entries, key=lambda e: e.name)


def _context_hash(entries: list[_Entry], parent_id: str) -> str:
    h = hashlib.sha256()
    h.update(f"from {parent_id}\n".encode())
    for e in entries:
        kind = "d" if e.data is None else "f"
        size = 0 if e.data is None else len(e.data)
        h.update(f"{kind} {e.mode:o} {size} {e.name}\n".encode())
        if e.data is not None:
            h.update(e.data)
    return "sha256:" + h.hexdigest()


def _context_tar(entries: list[_Entry]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mtime = _FIXED_MTIME
            info.mode = e.mode
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if e.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    buf.seek(0)
    return buf


def make_build_context(
    lang: str, *, ca_bundle: str | os.PathLike | None = None
) -> tuple[io.BytesIO, list[str]]:
    """Return the build context tar of ``lang`` (in memory) and the names it contains."""
    entries = _context_entries(lang, ca_bundle)
    return _context_tar(entries), [e.name for e in entries]


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------

# Build-output lines not worth showing: docker's own bookkeeping and apt/dpkg chatter.
# Everything else (Step lines, apt's "Fetched ..." summary, warnings, errors) is shown.
_BUILD_NOISE = re.compile(
    r"^( ---> (?!Using cache)|Removing intermediate container|Successfully (built|tagged)"
    r"|(Get|Hit|Ign|Err):\d+ |Reading (package lists|database|state information)"
    r"|\(Reading database|Building dependency tree|Selecting previously unselected"
    r"|Preparing to unpack|Unpacking |Setting up |Processing triggers|update-alternatives:"
    r"|debconf: |Adding debian:|Created symlink|\s|The following |Suggested packages"
    r"|Recommended packages|Need to get|After this operation|Updating certificates"
    r"|Running hooks in|done\.|\d+ added, \d+ removed|invoke-rc\.d|Selecting previously"
    r"|Use '|Linking |Warning: The home dir|Adding |Creating |Done\.|No schema files found"
    r"|.* is already the newest version)"
)
# The daemon wraps a RUN step's stderr in colour codes.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(obj: object, limit: int = 300) -> str:
    s = " ".join(str(obj).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _tail(text: str, n: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


# one loop over docker's build stream with a stall watchdog; its branches are the stream's
# message kinds (stream, status, error, aux) and share the progress state
def _run_build(  # noqa: C901
    client: docker.DockerClient,
    lang: str,
    context: io.BytesIO,
    labels: dict[str, str],
    buildargs: dict[str, str],
    nocache: bool,
    progress: Progress,
) -> str:
    """Run one build on the daemon, streaming condensed output; return the image id."""
    tag = image_name(lang)
    step = "(before the first step)"
    step_lines: collections.deque[str] = collections.deque(maxlen=40)
    image_id = None
    pending = ""

    def emit(line: str) -> None:
        nonlocal step, image_id
        line = _ANSI.sub("", line).rstrip()
        if not line:
            return
        if line.startswith("Step "):
            step = line
            step_lines.clear()
            progress(f"{lang}: {_one_line(line, 120)}")
            return
        step_lines.append(line)
        m = re.match(r"Successfully built ([0-9a-f]+)", line)
        if m and image_id is None:
            image_id = m.group(1)
        if line == " ---> Using cache":
            progress(f"{lang}:   (cached)")
        elif not _BUILD_NOISE.match(line):
            progress(f"{lang}:   {_one_line(line, 160)}")

    try:
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            labels=labels,
            buildargs=buildargs,
            rm=True,
            forcerm=True,
            nocache=nocache,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                if pending:
                    step_lines.append(pending)
                raise ImageBuildError(
                    f"{lang}: build failed at {_one_line(step, 200)}\n"
                    f"{detail.strip()}\n--- last output of that step ---\n"
                    + "\n".join(step_lines)
                )
            if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            text = chunk.get("stream")
            if text:
                # Chunks are not line-aligned; apt's progress also uses bare \r.
                pending += text.replace("\r", "\n")
                *lines, pending = pending.split("\n")
                for line in lines:
                    emit(line)
        emit(pending)
    except ImageBuildError:
        raise
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ImageBuildError(f"{lang}: build failed at {_one_line(step, 200)}: {exc}") from exc
    # The id from the build's own output names what *this* build produced, even if another
    # process re-tags the image meanwhile; the tag is only the fallback.
    img = _get_image(client, image_id or tag)
    if img is None:
        raise ImageBuildError(f"{lang}: build finished but {image_id or tag} does not exist")
    return img.id


def _resolve_ca_bundle(ca_bundle: str | os.PathLike | None) -> str | os.PathLike | None:
    return ca_bundle or os.environ.get(CA_BUNDLE_ENV) or None


def _build_one(
    client: docker.DockerClient,
    lang: str,
    parent_id: str,
    *,
    force: bool,
    ca_bundle: str | os.PathLike | None,
    progress: Progress,
    replaced: list[str],
) -> BuildResult:
    started = time.monotonic()
    entries = _context_entries(lang, ca_bundle)
    digest = _context_hash(entries, parent_id)
    tag = image_name(lang)
    current = _get_image(client, tag)
    if current is not None and not force and current.labels.get(LABEL_HASH) == digest:
        progress(f"{lang}: up to date")
        return BuildResult(lang, tag, current.id, "up to date", time.monotonic() - started, digest)
    why = "forced rebuild" if current is not None and force else (
        "changed" if current is not None else "missing")
    progress(f"{lang}: building {tag} ({why})")
    labels = {
        LABEL_IMAGE: "1",
        LABEL_HASH: digest,
        LABEL_LANGUAGE: lang,
    }
    # force also bypasses the daemon's layer cache, so it really re-runs apt (security
    # updates); an ordinary rebuild reuses unchanged layers.
    # FROM is pinned to the id the hash was computed from (the Dockerfiles take it as an
    # ARG), so another process re-tagging the base mid-build cannot make the label lie.
    buildargs = {"BASE_OS_IMAGE" if lang == BASE else "BASE_IMAGE": parent_id}
    new_id = _run_build(client, lang, _context_tar(entries), labels, buildargs, force, progress)
    seconds = time.monotonic() - started
    if current is not None and current.id != new_id:
        replaced.append(current.id)
    progress(f"{lang}: built {tag} in {seconds:.0f} s")
    return BuildResult(lang, tag, new_id, "built", seconds, digest)


def _remove_replaced(client: docker.DockerClient, ids: list[str], progress: Progress) -> None:
    """Delete images our builds superseded, newest (language) first, base last.

    Best effort: an old image still used by a container or by a stale child image stays.
    """
    for image_id in reversed(ids):
        try:
            # Only if nothing names it any more: removing by id would also delete an image
            # that a user (or another tag) still refers to.
            if client.api.inspect_image(image_id).get("RepoTags"):
                continue
            client.api.remove_image(image_id)
            progress(f"removed superseded image {image_id.split(':')[-1][:12]}")
        except docker.errors.APIError:
            pass


def build_images(
    client: docker.DockerClient,
    languages: Iterable[str] | None = None,
    *,
    force: bool = False,
    ca_bundle: str | os.PathLike | None = None,
    progress: Progress = print,
) -> list[BuildResult]:
    """Build base, then the given languages (default all); skip images already up to date."""
    wanted = available_languages() if languages is None else list(dict.fromkeys(languages))
    wanted = [lang for lang in wanted if lang != BASE]
    unknown = [lang for lang in wanted if not (IMAGES_DIR / lang / "Dockerfile").is_file()]
    if unknown:
        raise ImageBuildError(
            f"unknown language(s): {', '.join(unknown)} "
            f"(available: {', '.join(available_languages())})"
        )
    ca_bundle = _resolve_ca_bundle(ca_bundle)
    try:
        base_os_id = ensure_base_os(client, progress)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ImageBuildError(f"cannot prepare {BASE_OS_IMAGE}: {exc}") from exc
    replaced: list[str] = []
    results = [
        _build_one(client, BASE, base_os_id, force=force, ca_bundle=ca_bundle,
                   progress=progress, replaced=replaced)
    ]
    base_id = results[0].image_id
    for lang in wanted:
        results.append(
            _build_one(client, lang, base_id, force=force, ca_bundle=None,
                       progress=progress, replaced=replaced)
        )
    _remove_replaced(client, replaced, progress)
    return results


def list_images(
    client: docker.DockerClient, *, ca_bundle: str | os.PathLike | None = None
) -> list[dict]:
    """Describe base and every language image: presence, id, size, age, up to date or stale."""
    ca_bundle = _resolve_ca_bundle(ca_bundle)
    base_os = _get_image(client, BASE_OS_IMAGE)
    parent_id = base_os.id if base_os is not None else None
    rows = []
    base_ok = False
    for lang in [BASE, *available_languages()]:
        img = _get_image(client, image_name(lang))
        expected = None
        if parent_id is not None:
            expected = _context_hash(_context_entries(lang, ca_bundle if lang == BASE else None),
                                     parent_id)
        up_to_date = img is not None and expected is not None and (
            img.labels.get(LABEL_HASH) == expected)
        if lang != BASE and not base_ok:
            # build_images would rebuild the base first, and then this image too.
            up_to_date = False
        rows.append({
            "language": lang,
            "name": image_name(lang),
            "present": img is not None,
            "id": img.short_id.split(":")[-1] if img is not None else None,
            "size_mb": round(img.attrs.get("Size", 0) / 1e6, 1) if img is not None else None,
            "created": img.attrs.get("Created") if img is not None else None,
            "up_to_date": up_to_date,
            "status": "missing" if img is None else ("up to date" if up_to_date else "stale"),
        })
        if lang == BASE:
            # Language images are built FROM the base as it is now.
            parent_id = img.id if img is not None else None
            base_ok = up_to_date
    return rows
