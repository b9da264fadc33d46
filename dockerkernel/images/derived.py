"""A derived image: a language image with a course's or team's packages installed in it.

    dockerkernel images build python --requirements requirements.txt --tag course/python:2026

The image is ``FROM`` the language image (built first if it is missing or stale), with the
requirements installed system-wide by the language's own package manager during the build —
the build's network, never a cell's. It keeps the language image's labels (a kernel accepts it
as an image of that language) and adds ``dockerkernel.requirements``. Use it with
``%image course/python:2026`` in a cell, or a kernelspec of its own:
``dockerkernel install python --image course/python:2026 --name docker-python-course``.

Only Python (pip) for now: npm and gem packages go into a derived image the same way, with a
Dockerfile of your own ``FROM dockerkernel/javascript`` (README, "Packages").
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import docker

from ..errors import ImageBuildError
from ..packages import ca_bundle_candidates, host_pip_config, pip_index_env
from . import Progress, image_name
from .build import _run_build, build_images

LABEL_REQUIREMENTS = "dockerkernel.requirements"
CA_PATH = "/opt/dockerkernel/build-ca.crt"  # only during the RUN: removed in the same layer


def derived_dockerfile(parent: str, index_env: dict[str, str], with_ca: bool, source_builds: bool = False) -> str:
    """The Dockerfile text (a pure function: tested in tests/unit)."""
    env = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(index_env.items()))
    only_binary = "" if source_builds else " --only-binary :all:"
    ca = f" PIP_CERT={CA_PATH}" if with_ca else ""
    lines = [
        f"FROM {parent}",
        "USER root",
        "COPY requirements.txt /opt/dockerkernel/requirements.txt",
    ]
    if with_ca:
        lines.append(f"COPY build-ca.crt {CA_PATH}")
    lines.append(
        f"RUN {env}{ca} python3 -m pip install --no-cache-dir --no-input --disable-pip-version-check"
        f" --break-system-packages{only_binary} -r /opt/dockerkernel/requirements.txt"
        + (f" && rm -f {CA_PATH}" if with_ca else "")
    )
    return "\n".join(lines) + "\n"


def build_derived(
    client: docker.DockerClient,
    language: str,
    requirements: str | os.PathLike,
    tag: str,
    *,
    ca_bundle: str | os.PathLike | None = None,
    source_builds: bool = False,
    progress: Progress = print,
) -> str:
    """Build ``tag`` = the ``language`` image + ``requirements`` (a requirements.txt); its id.

    Raises ``ImageBuildError`` for a language other than python, an unreadable requirements
    file or a failed install (pip's output is in the message).
    """
    if language != "python":
        raise ImageBuildError(f"--requirements builds Python images only (got {language}); see the README's Packages")
    try:
        text = Path(requirements).read_text()
    except OSError as exc:
        raise ImageBuildError(f"cannot read {requirements}: {exc}") from exc
    build_images(client, [language], progress=progress, ca_bundle=ca_bundle)
    parent = client.images.get(image_name(language))
    config = host_pip_config()
    index_env, notes = pip_index_env(config, dict(os.environ))
    for note in notes:
        progress(f"{language}: {note}")
    ca = b""
    for path in [ca_bundle] if ca_bundle else ca_bundle_candidates(config, dict(os.environ)):
        try:
            ca = Path(path).read_bytes()
            break
        except (OSError, TypeError):
            continue
    files = {"Dockerfile": derived_dockerfile(parent.id, index_env, bool(ca), source_builds).encode(),
             "requirements.txt": text.encode()}
    if ca:
        files["build-ca.crt"] = ca
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    labels = {**(parent.labels or {}), LABEL_REQUIREMENTS: json.dumps(text.split("\n"))[:4000]}
    progress(f"{language}: building {tag} from {image_name(language)} with {requirements}")
    return _run_build(client, language, context, labels, {}, False, progress, tag=tag)
