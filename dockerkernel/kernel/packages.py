"""``%pip``, ``%npm``, ``%gem`` (and ``!pip install …``): packages for the following cells.

``PackagesMixin`` is part of ``DockerKernel``. It keeps the kernel's requirement list per
language, finds or makes the package environment of the new list (``sandbox.packages``: a
cache hit costs one tiny container; a miss runs the installer container, whose output
streams into the cell), and from then on the cells of that language mount it read-only
(``Limits.packages``; the pool is refilled with containers that have it). Cells never get
the network.

Restart: a restarted kernel is a new process with an empty requirement list (a restart
means a fresh session); running the notebook's ``%pip install`` cell again takes the
environment from the cache in about a second. Shutdown drops the kernel's use of its
environments; the volumes stay as the cache until ``dockerkernel gc --packages-older-than``.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import hashlib
import io
import json
import os
import shlex
import subprocess
import tarfile
import threading

from traitlets import Bool, CFloat, List, Unicode
from traitlets.config import Configurable

from .. import packages
from ..errors import MagicError
from ..languages import get_language
from ..sandbox import packages as store

LIST_EMPTY = "(no packages installed with %{name} in this kernel)\n"


class PackagesConfig(Configurable):
    """The installer's settings (``--DockerKernel.install_timeout=600`` etc.)."""

    install_timeout = CFloat(600.0, config=True, help="Wall-clock limit of one package install, in seconds.")
    allow_source_builds = Bool(
        False, config=True,
        help="Let %pip build packages from source (sdists run their build code, with the network) and %npm run "
        "install scripts. Off: wheels only, no scripts.",
    )
    install_network = Unicode("bridge", config=True, help="Docker network of the installer container (only it).")
    pip_index_url = Unicode("", config=True, help="Index for %pip ('' = the host's pip configuration).")
    pip_extra_index_urls = List(Unicode(), config=True, help="Extra indexes for %pip ([] = the host's).")
    pip_trusted_hosts = List(Unicode(), config=True, help="Hosts %pip trusts without TLS ([] = the host's).")
    npm_registry = Unicode("", config=True, help="Registry for %npm ('' = `npm config get registry` on the host).")
    gem_source = Unicode("", config=True, help="Gem source for %gem ('' = RubyGems' default, rubygems.org).")
    requirements = Unicode(
        "", config=True,
        help='Packages to install before the first cell, as JSON {"python": ["tabulate"], ...} (what a notebook '
        "records in metadata.dockerkernel.requirements; dockerkernel execute passes it).",
    )
    install_ca_bundle = Unicode(
        "", config=True,
        help="CA bundle the installer trusts ('' = pip's cert setting, PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, "
        "else /etc/ssl/certs/ca-certificates.crt, when present).",
    )


@functools.lru_cache(maxsize=1)
def _host_pip_config() -> dict[str, str]:
    """The host's ``pip config list`` (the kernel's own Python), parsed; {} without pip."""
    return packages.host_pip_config()


@functools.lru_cache(maxsize=1)
def _host_npm_registry() -> str:
    try:
        done = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True, timeout=20)
        value = done.stdout.strip()
        return value if value.startswith("http") else ""
    except (OSError, subprocess.SubprocessError):
        return ""


class PackagesMixin(PackagesConfig):
    """The package side of ``DockerKernel`` (see the module docstring)."""

    def _package_state(self) -> tuple[dict, dict]:
        """(language → requirement list, language → environment volume) of this kernel."""
        if not hasattr(self, "_requirements"):
            self._requirements: dict[str, list[str]] = {}
            self._environments: dict[str, str] = {}
        return self._requirements, self._environments

    def package_volume(self, language_name: str) -> str:
        """The environment volume the cells of ``language_name`` mount ('' = none)."""
        return self._package_state()[1].get(language_name, "")

    def installed_requirements(self) -> dict[str, list[str]]:
        """language → the requirement list installed by this kernel's %pip/%npm/%gem (a copy)."""
        return {lang: list(reqs) for lang, reqs in self._package_state()[0].items() if reqs}

    async def install_configured_requirements(self) -> None:
        """Before the first cell: install ``DockerKernel.requirements`` (a notebook's recorded
        ``metadata.dockerkernel.requirements``, passed by ``dockerkernel execute``); once."""
        if getattr(self, "_configured_done", False) or not self.requirements.strip():
            return
        self._configured_done = True
        try:
            wanted = json.loads(self.requirements)
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict):
            raise MagicError(f"DockerKernel.requirements is not a JSON object of lists: {self.requirements!r}")
        for language, specs in wanted.items():
            manager = packages.MANAGERS.get(language)
            if manager and specs and (self.polyglot or language == self.lang.name):
                await self._package_magic(manager.name, "install " + " ".join(shlex.quote(str(s)) for s in specs))

    def prefetch_index_settings(self) -> None:
        """Read the host's pip configuration in the background at start-up (``pip config list``
        takes about a second; a cache hit needs it for the environment's key)."""
        if self.polyglot or self.lang.name == "python":
            threading.Thread(target=_host_pip_config, daemon=True, name="dockerkernel-pip-config").start()

    def index_settings(self, manager: packages.Manager) -> tuple[dict[str, str], list[str]]:
        """The installer's index environment for ``manager`` and notes about what was left out."""
        if manager.name == "pip":
            env, notes = packages.pip_index_env(_host_pip_config(), dict(os.environ))
            if self.pip_index_url:
                env["PIP_INDEX_URL"] = self.pip_index_url
            if self.pip_extra_index_urls:
                env["PIP_EXTRA_INDEX_URL"] = " ".join(self.pip_extra_index_urls)
            if self.pip_trusted_hosts:
                env["PIP_TRUSTED_HOST"] = " ".join(self.pip_trusted_hosts)
            return env, notes
        if manager.name == "npm":
            registry = self.npm_registry or os.environ.get("npm_config_registry") or _host_npm_registry()
            return ({"npm_config_registry": registry} if registry else {}), []
        return ({"DK_GEM_SOURCE": self.gem_source} if self.gem_source else {}), []

    def _ca_bundle(self) -> bytes:
        candidates = [self.install_ca_bundle] if self.install_ca_bundle else packages.ca_bundle_candidates(
            _host_pip_config(), dict(os.environ))
        for path in candidates:
            try:
                with open(path, "rb") as fh:
                    return fh.read()
            except OSError:
                continue
        return b""

    async def _package_magic(self, name: str, args: str) -> None:
        """Run one %pip/%npm/%gem line: list, or change the list and switch to its environment."""
        try:
            command = packages.parse_command(name, args)
        except ValueError as exc:
            raise MagicError(f"%{name} {args}: {exc}") from None
        manager = command.manager
        if not self.polyglot and manager.language != self.lang.name:
            raise MagicError(f"%{name} installs {manager.language} packages; this kernel runs {self.lang.name} "
                             "(docker-polyglot has %pip, %npm and %gem)")
        requirements, environments = self._package_state()
        current = requirements.get(manager.language, [])
        language = get_language(manager.language)
        image = self.settings.image_for(language)
        if command.verb == "list":
            volume = environments.get(manager.language)
            if not volume:
                self._send_stream("stdout", LIST_EMPTY.format(name=name))
                return
            text = await self.sandbox._call(store.list_packages, self.sandbox.client, image, volume,
                                            manager.list_script(), self.sandbox.labels)
            self._send_stream("stdout", text)
            return
        extra = [await self._read_workspace_text(path) for path in command.requirement_files]
        listed = [line for text in extra for line in _requirement_lines(text)]
        command = packages.PackageCommand(manager, command.verb, (*command.packages, *listed), (), command.local)
        wanted = packages.updated_requirements(current, command)
        built = [spec for spec in command.packages if packages.needs_source_build(spec, manager)]
        if built and command.verb == "install" and not self.allow_source_builds:
            raise store.InstallError(
                f"{' '.join(built)}: not a wheel; building it would run its own code in the installer "
                "(refused: only wheels are installed unless the administrator sets DockerKernel.allow_source_builds)")
        if wanted == current:
            self._send_stream("stdout", f"%{name}: nothing to change\n")
            return
        volume = await self._environment_for(manager, wanted, image) if wanted else ""
        requirements[manager.language] = wanted
        if volume:
            environments[manager.language] = volume
        else:
            environments.pop(manager.language, None)
        # pool containers started before carry the old environment (a warm interpreter's
        # sys.path is fixed when it starts): a new pool key retires them
        self.sandbox.warm_up(self._request(b"", 0, language))

    async def _environment_for(self, manager: packages.Manager, wanted: list[str], image: str) -> str:
        """The environment volume of ``wanted``: from the cache, else installed now (output to the cell)."""
        sandbox = self.sandbox
        image_id = await sandbox._call(sandbox.image_id, image)
        local = [spec for spec in wanted if packages.is_local_file(spec, manager)]
        digests = {spec: await self._workspace_digest(packages.workspace_path(spec), image) for spec in local}
        local_only = len(local) == len(wanted)
        index, notes = self.index_settings(manager)
        flags = {"source_builds": self.allow_source_builds, "local_only": local_only}
        key = packages.environment_key(manager.language, image_id, wanted, file_digests=digests, flags=flags,
                                       index=index)
        volume = await sandbox._call(store.ready_environment, sandbox.client, key, self.install_timeout)
        if volume:
            sandbox._in_background(store.stamp_used, sandbox.client, image, volume, sandbox.labels)
            self._send_stream("stdout", f"%{manager.name}: {' '.join(wanted)} (from the cache)\n")
            return volume
        if not getattr(self, "_notes_shown", False):  # once per kernel
            self._notes_shown = True
            for note in notes:
                self._send_stream("stderr", f"dockerkernel: {note}\n")
        argv = manager.install_argv(wanted, self.allow_source_builds, local_only)
        if manager.name == "gem" and index.get("DK_GEM_SOURCE"):
            argv[2:2] = ["--clear-sources", "--source", index["DK_GEM_SOURCE"]]
        loop = asyncio.get_running_loop()
        decoders = {"stdout": codecs.getincrementaldecoder("utf-8")("replace"),
                    "stderr": codecs.getincrementaldecoder("utf-8")("replace")}

        def on_output(stream: str, data: bytes) -> None:
            text = decoders[stream].decode(data)
            if text:
                loop.call_soon_threadsafe(self._send_stream, stream, text)

        limits = self.settings.limits
        try:
            return await sandbox._call(
                store.install_environment, sandbox.client, key=key, manager=manager, requirements=wanted, argv=argv,
                image=image, labels=sandbox.labels, limits=limits, timeout=self.install_timeout, env=index,
                ca_bundle=self._ca_bundle(), network="none" if local_only else self.install_network,
                workspace=sandbox.volume if local else None, on_output=on_output,
            )
        except store.InstallError as exc:
            if "No matching distribution" in str(exc) and manager.name == "pip" and not self.allow_source_builds:
                raise store.InstallError(str(exc), "only wheels are installed (--only-binary :all:); a package with "
                                         "no wheel for this image needs DockerKernel.allow_source_builds") from None
            raise

    async def _workspace_file(self, path: str, image: str | None = None) -> bytes:
        """A file of /workspace, read through the workspace's holder container. Raises ``InstallError``."""
        sandbox = self.sandbox
        await sandbox._call(sandbox._prepare_workspace, image or self.current_image)

        def read() -> bytes:
            stream, _ = sandbox.client.api.get_archive(sandbox._holder_id, path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                if member is None or not member.isfile():
                    raise store.InstallError(f"{path} is not a file")
                return tar.extractfile(member).read()

        try:
            return await sandbox._call(read)
        except store.InstallError:
            raise
        except Exception:
            raise store.InstallError(f"no file {path} in /workspace") from None

    async def _workspace_digest(self, path: str, image: str) -> str:
        return hashlib.sha256(await self._workspace_file(path, image)).hexdigest()

    async def _read_workspace_text(self, name: str) -> str:
        return (await self._workspace_file(packages.workspace_path(name))).decode("utf-8", "replace")


def _requirement_lines(text: str) -> list[str]:
    """The requirements of a requirements.txt (comments, blank lines and option lines left out)."""
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            found.append(line)
    return found
