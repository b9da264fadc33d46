"""Building the images in order (base first), skipping what is up to date, and listing them."""

from __future__ import annotations

import collections
import io
import os
import re
import time
from collections.abc import Iterable

import docker
import docker.errors
import requests.exceptions

from ..errors import ImageBuildError
from . import (
    BASE,
    BASE_OS_IMAGE,
    CA_BUNDLE_ENV,
    IMAGES_DIR,
    LABEL_HASH,
    LABEL_IMAGE,
    LABEL_LANGUAGE,
    BuildResult,
    Progress,
    _one_line,
    available_languages,
    image_name,
)
from .baseos import _get_image, ensure_base_os
from .context import _context_entries, _context_hash, _context_tar

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
    tag: str | None = None,
) -> str:
    """Run one build on the daemon, streaming condensed output; return the image id.

    ``tag``: the image's name (default: the language's, ``image_name(lang)``)."""
    tag = tag or image_name(lang)
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
