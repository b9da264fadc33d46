"""Debian mirror discovery from the host's apt configuration (pure: files in, URLs out)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import ImageBuildError
from . import (
    BASE_OS_SUITE,
    MIRROR_ENV,
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
