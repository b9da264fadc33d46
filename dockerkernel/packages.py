"""Packages without giving cells the network: what ``%pip``, ``%npm`` and ``%gem`` mean, as data.

No Docker and no Jupyter here. A kernel keeps, per language, an ordered **requirement list**
(``%pip install tabulate`` appends ``tabulate``; ``%pip uninstall tabulate`` removes it). The
packages of a list live in one **package environment**: a Docker volume named after the
environment's key, the sha256 of everything that decides what gets installed (language,
image id, the requirement list, the digests of local files named in it, the installer's
flags and the index settings). The same key means the same environment, so a second
kernel, or the next run of a notebook, finds it ready: the volume *is* the cache.
``dockerkernel.sandbox.packages`` makes the volumes (in a single-use installer container,
the only container with the network); cell containers mount one read-only at
``PACKAGES_MOUNT`` and find it through ``Manager.cell_env`` (``PYTHONPATH``, ``NODE_PATH``,
``GEM_PATH``).

Index settings come from the host's own configuration (``pip config list`` and ``PIP_*``,
``npm config get registry``), never from a hard-coded host; see ``pip_index_env``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass

PACKAGES_MOUNT = "/opt/dkpackages"
WORKSPACE = "/workspace"
VOLUME_PREFIX = "dockerkernel-pkgs-"
CA_IN_INSTALLER = "/tmp/dk-ca.crt"  # the host's CA bundle, fed on the installer's stdin


@dataclass(frozen=True)
class Manager:
    """One language's package manager: how it installs into a directory and how cells find it."""

    name: str  # the magic: pip, npm, gem
    language: str
    subdir: str  # below PACKAGES_MOUNT
    cell_env: tuple[tuple[str, str], ...]  # environment of cell containers that mount the environment
    local_suffixes: tuple[str, ...]  # file names that are local packages (their digest joins the key)

    @property
    def target(self) -> str:
        """Where the installer puts the packages (and cells find them)."""
        return f"{PACKAGES_MOUNT}/{self.subdir}"

    def install_argv(self, requirements: list[str], source_builds: bool = False, local_only: bool = False) -> list[str]:
        """The installer's command for the whole list into an empty ``target``.

        ``source_builds`` False (the default): no package's own build or install code runs
        (pip: wheels only; npm: no lifecycle scripts). ``local_only``: files from /workspace only.
        """
        if self.name == "pip":
            argv = ["python3", "-m", "pip", "install", "--target", self.target, "--no-cache-dir", "--no-input",
                    "--disable-pip-version-check", "--no-warn-script-location", "--progress-bar", "off"]
            if not source_builds:
                argv += ["--only-binary", ":all:"]
            if local_only:
                argv += ["--no-index"]
            return [*argv, *requirements]
        if self.name == "npm":
            argv = ["npm", "install", "--prefix", self.target, "--no-audit", "--no-fund", "--no-update-notifier",
                    "--loglevel", "warn"]
            if not source_builds:
                argv += ["--ignore-scripts"]
            if local_only:
                argv += ["--offline"]
            return [*argv, *requirements]
        argv = ["gem", "install", "--install-dir", self.target, "--no-document", "--no-user-install"]
        if local_only:
            argv += ["--local"]
        return [*argv, *requirements]

    def list_script(self) -> str:
        """The shell command that lists the installed packages (run with the environment read-only)."""
        if self.name == "pip":
            return f"python3 -m pip list --path {self.target} --disable-pip-version-check"
        if self.name == "npm":
            return f"npm ls --prefix {self.target} --depth 0"
        # only the gems of the environment (Ruby's own default gems are always there)
        return f"GEM_HOME={self.target} GEM_PATH={self.target} gem list --local | grep -v 'default: '"


MANAGERS = {
    "python": Manager("pip", "python", "python", (("PYTHONPATH", f"{PACKAGES_MOUNT}/python"),), (".whl", ".tar.gz",
                                                                                                 ".zip")),
    "javascript": Manager("npm", "javascript", "node", (("NODE_PATH", f"{PACKAGES_MOUNT}/node/node_modules"),),
                          (".tgz",)),
    # a trailing ':' keeps Ruby's default gem directories after ours
    "ruby": Manager("gem", "ruby", "ruby", (("GEM_PATH", f"{PACKAGES_MOUNT}/ruby:"),), (".gem",)),
}
# the magic (and shell command) names and the language each one installs for
MAGIC_NAMES = {"pip": "python", "pip3": "python", "npm": "javascript", "gem": "ruby"}


@dataclass(frozen=True)
class PackageCommand:
    """One ``%pip``/``%npm``/``%gem`` line, parsed."""

    manager: Manager
    verb: str  # install | uninstall | list
    packages: tuple[str, ...] = ()
    requirement_files: tuple[str, ...] = ()  # pip -r FILE (in /workspace)
    local: bool = False  # gem --local / pip --no-index: no network needed


_IGNORED_FLAGS = {"-q", "--quiet", "-U", "--upgrade", "-y", "--yes", "--save", "--no-save", "--user",
                  "--no-document", "-N", "--silent", "--no-cache-dir"}
_VERBS = {"install": "install", "i": "install", "add": "install", "uninstall": "uninstall", "remove": "uninstall",
          "rm": "uninstall", "un": "uninstall", "list": "list", "ls": "list", "freeze": "list"}


def parse_command(name: str, args: str) -> PackageCommand:
    """``%pip install -q tabulate``, ``%npm i left-pad``, ``%gem install --local x.gem`` → a command.

    Raises ``ValueError`` for an unknown verb or option (only what the kernel can honour is
    accepted; the index comes from the configuration, not from the cell).
    """
    manager = MANAGERS[MAGIC_NAMES[name]]
    words = shlex.split(args)
    if not words or words[0] not in _VERBS:
        raise ValueError(f"usage: %{name} install PACKAGE..., %{name} uninstall PACKAGE..., %{name} list")
    verb = _VERBS[words[0]]
    packages: list[str] = []
    files: list[str] = []
    local = False
    rest = iter(words[1:])
    for word in rest:
        if word in ("-r", "--requirement") and manager.name == "pip" and verb == "install":
            files.append(next(rest, ""))
            if not files[-1]:
                raise ValueError("-r needs a file name (a file in /workspace)")
        elif word in ("--local", "-l", "--no-index", "--offline"):
            local = True
        elif word in _IGNORED_FLAGS:
            continue
        elif word.startswith("-"):
            raise ValueError(f"%{name}: option {word} is not supported here (the index and the target are set by "
                             "the kernel's configuration)")
        else:
            packages.append(word)
    if verb != "list" and not packages and not files:
        raise ValueError(f"%{name} {verb}: name at least one package")
    return PackageCommand(manager, verb, tuple(packages), tuple(files), local)


def requirement_name(spec: str) -> str:
    """The project name a requirement is about, normalised (PEP 503): ``Foo_Bar>=1`` → ``foo-bar``.

    A local file (``./dist/foo-1.0.tar.gz``) is named by its file name's leading word; an npm
    spec ``left-pad@1.3`` by what comes before the version's ``@``.
    """
    text = spec.strip()
    if "/" in text or text.endswith((".whl", ".tar.gz", ".zip", ".tgz", ".gem")):
        text = text.rsplit("/", 1)[-1]
        text = re.split(r"-\d", text, maxsplit=1)[0]
    elif text.startswith("@"):  # npm scoped: @scope/name@1.0 (has a '/': handled above)
        pass
    else:
        text = re.split(r"[\s\[<>=!~;@(]", text, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", text).lower()


def updated_requirements(current: list[str], command: PackageCommand) -> list[str]:
    """The requirement list after ``command``: install replaces a requirement on the same project
    and appends new ones (keeping the order of first mention); uninstall removes them."""
    names = {requirement_name(p): p for p in command.packages}
    if command.verb == "uninstall":
        return [r for r in current if requirement_name(r) not in names]
    result = [names.pop(requirement_name(r), r) for r in current]
    return result + [p for p in command.packages if requirement_name(p) in names]


def is_local_file(spec: str, manager: Manager) -> bool:
    """Is this requirement a file (in /workspace) rather than a name for the index?"""
    return spec.startswith((".", "/")) or spec.endswith(manager.local_suffixes)


def needs_source_build(spec: str, manager: Manager) -> bool:
    """Would installing ``spec`` run the package's own build code? pip: a local or remote sdist,
    a VCS or URL requirement (``--only-binary`` does not stop pip from building those); npm and
    gem: no (npm's scripts are off by default; see SECURITY.md for gems)."""
    if manager.name != "pip":
        return False
    text = spec.strip()
    location = text.split(" @ ", 1)[1].strip() if " @ " in text else text
    if is_local_file(location, manager) or "://" in location or location.startswith(("git+", "hg+", "svn+", "bzr+")):
        return not location.split("#", 1)[0].split("?", 1)[0].endswith(".whl")
    return False


def workspace_path(spec: str) -> str:
    """A local requirement's absolute path (relative ones are relative to /workspace)."""
    if spec.startswith("/"):
        return spec
    return f"{WORKSPACE}/{spec[2:] if spec.startswith('./') else spec}"


def environment_key(language: str, image_id: str, requirements: list[str], *, file_digests: dict | None = None,
                    flags: dict | None = None, index: dict | None = None) -> str:
    """The sha256 (hex) that names a package environment: same inputs, same packages."""
    material = {
        "language": language,
        "image": image_id,
        "requirements": list(requirements),
        "files": dict(sorted((file_digests or {}).items())),
        "flags": dict(sorted((flags or {}).items())),
        "index": dict(sorted((index or {}).items())),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def volume_name(key: str) -> str:
    """The Docker volume of the environment with this key."""
    return f"{VOLUME_PREFIX}{key[:24]}"


def parse_pip_config(text: str) -> dict[str, str]:
    """``pip config list`` output (``global.index-url='https://…'``) → {option: value}; later lines win."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^[^.=\s]*\.([\w-]+)=(.*)$", line.strip())
        if match:
            value = match.group(2)
            try:
                value = shlex.split(value)[0] if value.strip() else ""
            except (ValueError, IndexError):
                pass
            found[match.group(1)] = value
    return found


def host_pip_config() -> dict[str, str]:
    """This Python's ``pip config list``, parsed (``parse_pip_config``); {} without pip."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                              timeout=20)
        return parse_pip_config(done.stdout)
    except (OSError, subprocess.SubprocessError):
        return {}


def pip_index_env(config: dict[str, str], environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The installer's ``PIP_*`` index settings from the host's pip configuration and environment.

    ``config`` is ``parse_pip_config``'s; ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL`` and
    ``PIP_TRUSTED_HOST`` in ``environ`` win over it. ``file://`` indexes and local paths exist
    only on the host, not in the installer container: they are left out and named in the
    returned notes (one line each).
    """
    env: dict[str, str] = {}
    notes: list[str] = []
    for option in ("index-url", "extra-index-url", "trusted-host"):
        variable = "PIP_" + option.upper().replace("-", "_")
        value = environ.get(variable, config.get(option, ""))
        kept = []
        for part in value.split():
            if part.startswith("file:") or part.startswith("/"):
                notes.append(f"pip's {option} {part} is on the kernel's host, not in the installer: left out")
            else:
                kept.append(part)
        if kept:
            env[variable] = " ".join(kept)
    for option in ("find-links", "constraint"):
        variable = "PIP_" + option.upper().replace("-", "_")
        value = environ.get(variable, config.get(option, ""))
        if value:
            notes.append(f"pip's {option} {value} is on the kernel's host, not in the installer: left out")
    return env, notes


def ca_bundle_candidates(config: dict[str, str], environ: dict[str, str]) -> list[str]:
    """Where the host's CA bundle may be, most specific first (pip's cert, then the usual variables)."""
    found = [environ.get("PIP_CERT", ""), config.get("cert", ""), environ.get("REQUESTS_CA_BUNDLE", ""),
             environ.get("SSL_CERT_FILE", ""), "/etc/ssl/certs/ca-certificates.crt"]
    return [path for path in found if path]


def last_error_line(output: str) -> str:
    """The line of an installer's output that says why it failed (pip's ``ERROR:``, npm's ``ERR!``)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("ERROR:", "npm ERR!", "ERROR: ", "error:")) or "ERR!" in line:
            if line.startswith("npm ERR! A complete log"):
                continue
            return line
    return lines[-1] if lines else "the installer failed without a message"


_SHELL_INSTALL = re.compile(r"^(\s*)!\s*(?:python3?\s+-m\s+)?(pip3?|npm|gem)\s+(\S.*)$")
_LEADING = re.compile(r"^\s*(#.*|%.*|)$")


def shell_installs_as_magics(code: str) -> str:
    """``!pip install x`` (also ``!pip3``, ``!python -m pip``, ``!npm``, ``!gem``) among the lines at
    the top of an IPython cell → ``%pip install x``, which the kernel runs (cells have no
    network, so the shell command could never work). Lines further down stay IPython's."""
    lines = code.split("\n")
    for index, line in enumerate(lines):
        match = _SHELL_INSTALL.match(line)
        if match:
            lines[index] = f"{match.group(1)}%{match.group(2)} {match.group(3)}"
        elif not _LEADING.match(line):
            break
    return "\n".join(lines)
