"""How images are made: the language images (``dockerkernel/<lang>:latest``) on a Docker daemon.

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

import dataclasses
from collections.abc import Callable
from pathlib import Path

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

from ..errors import ImageBuildError  # noqa: E402  (the one error tree: a DockerKernelError)
from ..languages import IMAGE_PREFIX  # noqa: E402  (one source for image names)

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

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # dockerkernel/
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



def _one_line(obj: object, limit: int = 300) -> str:
    s = " ".join(str(obj).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _tail(text: str, n: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


# the package, by failure domain (the names above are what they share); the private names
# are re-exported for the tests and the ``dockerkernel.imagebuild`` shim
from .baseos import ensure_base_os  # noqa: E402
from .build import _run_build, build_images, list_images  # noqa: E402,F401
from .context import _context_entries, _context_tar, _Entry, make_build_context  # noqa: E402,F401
from .debian import debian_mirror_from_sources, find_debian_mirror  # noqa: E402
