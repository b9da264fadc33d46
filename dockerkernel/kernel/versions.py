"""Language versions read from the images (for ``language_info``), cached per image id."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from ..languages import Language


def cache_file() -> Path:
    """Where versions are remembered between kernel starts."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dockerkernel" / "versions.json"


class LanguageVersions:
    """Version strings keyed by image id; asks the image once (a short container) on a miss."""

    def __init__(self, path: Path | None = None):
        """Load the cache file if there is one."""
        self.path = path or cache_file()
        self._by_image: dict[str, str] = {}  # image name -> version, for this process
        try:
            self._by_id: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._by_id = {}

    def cached(self, language: Language, image: str) -> str | None:
        """The version if known without asking Docker."""
        return self._by_image.get(image)

    async def probe(self, language: Language, image: str, sandbox) -> str:
        """The version of ``language`` in ``image`` (runs its version command once per image id)."""
        if image in self._by_image:
            return self._by_image[image]
        loop = asyncio.get_running_loop()
        image_id = await loop.run_in_executor(None, sandbox.image_id, image)
        version = self._by_id.get(image_id)
        if version is None:
            version = await loop.run_in_executor(None, sandbox.run_command_once, image, list(language.version_command))
            version = version.strip().splitlines()[0] if version.strip() else ""
            if version:  # never remember a failed probe
                self._by_id[image_id] = version
                self._save()
        self._by_image[image] = version
        return version

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._by_id, indent=1))
            tmp.replace(self.path)
        except OSError:
            pass  # a read-only home only costs a probe per kernel start
