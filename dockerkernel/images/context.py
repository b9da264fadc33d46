"""Build contexts: the files of an image (Dockerfile folder, in-container code, CA bundle), hashed and tarred."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
from pathlib import Path

from ..errors import ImageBuildError
from . import (
    BASE,
    IMAGES_DIR,
    INCONTAINER_DIR,
    WIRE_IN_CONTEXT,
    WIRE_MODULE,
    available_languages,
)

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
