"""Kernel-side magics: parsed and applied to a ``SessionSettings`` without a container (no Jupyter).

A cell may start with magic lines (blank lines and comments between them are fine):

    %timeout 10          ← applies to this cell and the following ones
    %memory 1g
    print("hi")          ← the rest is the program

``%%file PATH`` as the first line makes the whole cell the content of a workspace file.

Each line magic is one function registered in ``LINE_MAGICS`` with ``@line_magic``; its
docstring's first line is its ``%help`` line. ``SessionSettings.apply`` runs one and returns
the text to show; the kernel only publishes it. ``%%file`` and the ``%%LANG`` switches need
the sandbox or change the cell's language, so the kernel handles those.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .cells import Limits
from .errors import MagicError
from .languages import LANGUAGES, Language, get_language

SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
              "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}

CELL_MAGICS = {
    "file": "%%file PATH — write the rest of the cell to PATH in /workspace, without a container",
    "LANG": "%%python, %%javascript, %%bash, %%ruby, %%c, %%cpp, %%go, %%rust, %%java — run this cell in that language "
    "(same /workspace)",
}
# For a language whose cells understand magics themselves (Python: IPython), the kernel takes
# only these from the top of a cell and leaves every other magic in the source. %lsmagic is
# answered by both: the kernel lists its own, then the cell lists IPython's.
KERNEL_MAGICS = ("timeout", "memory", "cpus", "pids", "output", "network", "image", "state", "lang", "cflags",
                 "limits", "help", "stdin", "pip", "pip3", "npm", "gem")
BOTH_SIDES = ("lsmagic",)

_MAGIC_RE = re.compile(r"^(%%?)([A-Za-z_][\w-]*)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Magic:
    """One magic line: ``%name args`` (line) or ``%%name args`` (cell)."""

    name: str
    args: str
    cell: bool = False
    line_number: int = 1


def parse_size(text: str) -> int:
    """Parse ``512m``, ``1g``, ``1048576`` into bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 256m, 1g, 65536)")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def format_size(size: int) -> str:
    """Bytes as a short human-readable size (``512 MiB``)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % (factor // 4 or 1) == 0:
            value = size / factor
            return f"{value:g} {unit}"
    return f"{size} B"


def split_magics(code: str, comment: str = "#") -> tuple[list[Magic], str]:
    """Split leading magic lines from the program; the program keeps its line numbers.

    Leading magic lines are replaced by empty lines so that line 3 of the cell is still
    line 3 of the program (compiler and traceback line numbers stay right). A ``%%name`` line
    ends the scan: the rest of the cell is its body.
    """
    lines = code.split("\n")
    magics: list[Magic] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or (comment and stripped.startswith(comment) and not stripped.startswith("%")):
            continue
        match = _MAGIC_RE.match(stripped)
        if not match:
            break
        if match.group(1) == "%%":
            magics.append(Magic(match.group(2), match.group(3), cell=True, line_number=index + 1))
            return magics, "\n".join(lines[index + 1 :])
        magics.append(Magic(match.group(2), match.group(3), line_number=index + 1))
        lines[index] = ""
    if not magics:
        return [], code
    return magics, "\n".join(lines)


def split_kernel_magics(code: str, comment: str = "#", cell_magics=(), also=()) -> tuple[list[Magic], str]:
    """Like ``split_magics``, for cells that run their own magics (IPython).

    From the lines at the top of the cell (magics, comments, blank lines), the kernel's own line
    magics (``KERNEL_MAGICS``) are taken and blanked; other line magics stay in the source and the
    scan goes on; ``%lsmagic`` is taken *and* stays. A ``%%name`` line whose name is in
    ``cell_magics`` (a language switch) ends the scan as in ``split_magics``; any other
    ``%%name`` stays (IPython's cell magic). ``also``: more line magics the kernel takes (polyglot:
    ``%env``, which reaches the cells of every language). Line numbers are unchanged.
    """
    lines = code.split("\n")
    found: list[Magic] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or (comment and stripped.startswith(comment)):
            continue
        match = _MAGIC_RE.match(stripped)
        if not match:
            break
        name, args = match.group(2), match.group(3)
        if match.group(1) == "%%":
            if name in cell_magics:
                found.append(Magic(name, args, cell=True, line_number=index + 1))
                return found, "\n".join(lines[index + 1 :])
            break
        if name in KERNEL_MAGICS or name in also:
            found.append(Magic(name, args, line_number=index + 1))
            lines[index] = ""
        elif name in BOTH_SIDES:
            found.append(Magic(name, args, line_number=index + 1))
    return found, "\n".join(lines)


def parse_env(args: str) -> tuple[str, str]:
    """``NAME=VALUE`` (or ``NAME VALUE``) → (name, value)."""
    if "=" in args:
        name, value = args.split("=", 1)
    else:
        parts = args.split(None, 1)
        if len(parts) != 2:
            raise ValueError("usage: %env NAME=VALUE")
        name, value = parts
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not an environment variable name: {name!r}")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = shlex.split(value)[0]
    return name, value


def parse_on_off(args: str) -> bool:
    """``on``/``off`` (and yes/no, true/false, 1/0) → bool."""
    word = args.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ValueError("expected on or off")


def cell_language(name: str) -> Language | None:
    """The language a ``%%name`` cell magic selects, if it names one."""
    try:
        return get_language(name)
    except KeyError:
        return None


# ---- the session's settings and the line magics that change them ------------------------


@dataclass
class Ceilings:
    """The administrator's upper bounds for the user's limit magics (DockerKernel.max_*)."""

    timeout: float = 3600.0  # seconds
    memory: int = 8 << 30  # bytes
    cpus: float = 1.0
    pids: int = 4096
    output: int = 64 << 20  # bytes


@dataclass
class SessionSettings:
    """What a kernel session has chosen so far: configuration plus what magics changed.

    Pure data with no Docker and no Jupyter; ``cells.build_request`` reads it. ``language``
    is the kernel's language (in a polyglot kernel: the language of cells without ``%%LANG``,
    changed by ``%lang``); the ``image`` and ``compile_flags`` of the configuration apply to it.
    """

    language: Language
    base_limits: Limits = field(default_factory=Limits)
    image: str = ""  # configured image of the kernel's language ('' = the language's)
    compile_flags: str = ""  # configured compiler flags of the kernel's language
    env: dict = field(default_factory=dict)  # configured environment of every cell
    allow_network: bool = False
    allow_image_change: bool = False
    keep_state: bool = True
    workspace_size: int = 0  # bytes (0 = no cap); shown by %limits
    ceilings: Ceilings = field(default_factory=Ceilings)
    # what the user chose with magics
    cell_env: dict = field(default_factory=dict)
    language_flags: dict = field(default_factory=dict)  # %cflags, per compiled language
    network_on: bool = False
    image_override: str = ""
    cell_stdin: str = ""  # %stdin FILE: for the cell being run only (the kernel clears it)
    # language -> what its last cell carried (the boot code's ``state`` frame), for %state
    state_reports: dict = field(default_factory=dict)
    # language -> execution counts of cells ended by a limit since its last normal end: a
    # state such a cell saved before the limit struck (say, processes it left behind hit the
    # pids limit) is not restored (``DK_STATE_DISCARD``, read by the boot code)
    discard_state: dict = field(default_factory=dict)

    @property
    def limits(self) -> Limits:
        """The limits of the next cell."""
        if self.network_on:
            return replace(self.base_limits, network="bridge")
        return self.base_limits

    def image_for(self, language: Language) -> str:
        """The image for a cell of ``language`` (overrides apply to the session's language)."""
        if language is self.language:
            return self.image_override or self.image or language.image
        return language.image

    def flags_for(self, language: Language) -> str:
        """Compiler flags for ``language``: %cflags, else the configured ones of the session's language."""
        chosen = self.language_flags.get(language.name)
        if chosen is None:
            chosen = self.compile_flags if language is self.language else ""
        return chosen

    def cell_environment(self, language: Language | None = None) -> dict[str, str]:
        """Environment of every cell: the configured one, then %env, then what the boot code of
        ``language`` must not restore (``DK_STATE_DISCARD``)."""
        env = {**{str(k): str(v) for k, v in self.env.items()}, **self.cell_env}
        discard = self.discard_state.get(language.name) if language is not None else None
        if discard:
            env["DK_STATE_DISCARD"] = ",".join(map(str, discard))
        return env

    def record_state(self, language: Language, reason: str, count: int, report: dict) -> None:
        """After a cell: what it carried (its ``state`` frame), and whether its saved state counts.

        A cell ended by a limit or an interrupt carries nothing: its count is passed to the next
        cells of the language until one ends normally.
        """
        if reason in ("timeout", "oom", "output", "pids", "interrupt"):
            self.discard_state[language.name] = [*self.discard_state.get(language.name, [])[-7:], count]
        elif reason in ("ok", "exit", "compile"):
            self.discard_state.pop(language.name, None)
        if report:
            self.state_reports[language.name] = report

    def apply(self, magic: Magic) -> str | None:
        """Apply one line magic; returns the text to show, if any.

        Raises ``MagicError`` for an unknown magic, bad arguments or a value outside the
        administrator's bounds.
        """
        handler = LINE_MAGICS.get(magic.name)
        if handler is None:
            raise MagicError(f"%{magic.name} is not a dockerkernel magic; %lsmagic lists them")
        try:
            return handler(self, magic.args)
        except MagicError:
            raise
        except ValueError as exc:
            raise MagicError(f"%{magic.name} {magic.args}: {exc}") from None

    def limits_text(self) -> str:
        """What %limits prints: the settings of the next cell, one per line."""
        limits = self.limits
        rows = [
            ("image", self.image_for(self.language)),
            ("timeout", f"{limits.timeout:g} s"),
            ("memory", f"{format_size(limits.memory)} (no swap)"),
            ("cpus", f"{limits.cpus:g}"),
            ("pids", str(limits.pids)),
            ("output", format_size(limits.output)),
            ("/tmp", format_size(limits.tmp_size)),
            ("/workspace", format_size(self.workspace_size) if self.workspace_size else "no cap"),
            ("network", limits.network),
            ("runtime", limits.runtime or "default (runc)"),
            ("env", ", ".join(sorted(self.cell_env)) or "-"),
        ]
        return "".join(f"{key:<11} {value}\n" for key, value in rows)

    def _set_limit(self, **changes) -> None:
        self.base_limits = replace(self.base_limits, **changes)


MagicHandler = Callable[[SessionSettings, str], "str | None"]
LINE_MAGICS: dict[str, MagicHandler] = {}


def line_magic(name: str) -> Callable[[MagicHandler], MagicHandler]:
    """Register a line magic; the first docstring line is its ``%help`` text."""

    def register(handler: MagicHandler) -> MagicHandler:
        LINE_MAGICS[name] = handler
        return handler

    return register


def _within(what: str, value: float, lowest: float, highest: float, unit: str) -> float:
    """Check a user's limit against the floor and the administrator's ceiling."""
    if not lowest <= value <= highest:
        raise MagicError(
            f"%{what} {value:g}: must be between {lowest:g} and {highest:g} {unit} "
            f"(the upper bound is the administrator's DockerKernel.max_* setting)"
        )
    return value


def _python_only(settings: SessionSettings, name: str) -> None:
    if settings.language.name != "python":
        raise MagicError(f"%{name} is not a dockerkernel magic; %lsmagic lists them")


@line_magic("timeout")
def _timeout(settings: SessionSettings, args: str) -> None:
    """%timeout SECONDS — wall-clock limit per cell"""
    settings._set_limit(timeout=_within("timeout", float(args), 0.1, settings.ceilings.timeout, "s"))


@line_magic("memory")
def _memory(settings: SessionSettings, args: str) -> None:
    """%memory SIZE — memory limit (e.g. 256m, 1g); swap is never added"""
    size = _within("memory", parse_size(args), 16 << 20, settings.ceilings.memory, "bytes")
    settings._set_limit(memory=int(size))


@line_magic("cpus")
def _cpus(settings: SessionSettings, args: str) -> None:
    """%cpus N — CPU limit (fractions allowed, e.g. 0.5)"""
    settings._set_limit(cpus=_within("cpus", float(args), 0.01, settings.ceilings.cpus, "CPUs"))


@line_magic("pids")
def _pids(settings: SessionSettings, args: str) -> None:
    """%pids N — limit on processes and threads"""
    settings._set_limit(pids=int(_within("pids", int(args), 8, settings.ceilings.pids, "processes")))


@line_magic("output")
def _output(settings: SessionSettings, args: str) -> None:
    """%output SIZE — output cap per cell (e.g. 1m)"""
    settings._set_limit(output=int(_within("output", parse_size(args), 1024, settings.ceilings.output, "bytes")))


@line_magic("env")
def _env(settings: SessionSettings, args: str) -> str | None:
    """%env NAME=VALUE — set an environment variable for the following cells (%env alone lists them)"""
    if not args.strip():
        return "".join(f"{k}={v}\n" for k, v in sorted(settings.cell_env.items())) or "(no variables set)\n"
    key, value = parse_env(args)
    settings.cell_env[key] = value
    return None


@line_magic("stdin")
def _stdin(settings: SessionSettings, args: str) -> None:
    """%stdin FILE — this cell's standard input is the workspace file FILE (with any frontend; write it with %%file)"""
    path = args.strip()
    if not path:
        raise MagicError("usage: %stdin FILE (a file in /workspace, e.g. written by a %%file cell)")
    settings.cell_stdin = path


@line_magic("limits")
def _limits(settings: SessionSettings, args: str) -> str:
    """%limits — show the limits that apply to the next cell"""
    return settings.limits_text()


@line_magic("network")
def _network(settings: SessionSettings, args: str) -> None:
    """%network on|off — network access (only if the administrator set DockerKernel.allow_network)"""
    wanted = parse_on_off(args)
    if wanted and not settings.allow_network:
        raise MagicError(
            "network access is not allowed by the administrator "
            "(set DockerKernel.allow_network=True in the kernel's configuration to permit %network on)"
        )
    settings.network_on = wanted


@line_magic("image")
def _image(settings: SessionSettings, args: str) -> None:
    """%image NAME — run the following cells in another image (only if DockerKernel.allow_image_change)"""
    if not settings.allow_image_change:
        raise MagicError("changing the image is not allowed (set DockerKernel.allow_image_change=True)")
    settings.image_override = args.strip()


@line_magic("lsmagic")
def _lsmagic(settings: SessionSettings, args: str) -> str:
    """%lsmagic — list the magics"""
    return help_text(settings.language.magics_in_container)


@line_magic("help")
def _help(settings: SessionSettings, args: str) -> str:
    """%help — this help"""
    return help_text(settings.language.magics_in_container)


@line_magic("cflags")
def _cflags(settings: SessionSettings, args: str) -> str:
    """%cflags [LANG:] FLAGS — extra compiler flags (e.g. -O2 -lm) for this kernel's language; in polyglot for C and C++, or for LANG (c, cpp, go, rust, java)"""  # noqa: E501  one help line
    match = re.match(r"^\s*(c|cpp|go|rust|java)\s*:\s*(.*)$", args)
    if match:
        targets, flags = [match.group(1)], match.group(2).strip()
    elif settings.language.compile_command:
        targets, flags = [settings.language.name], args.strip()
    else:
        targets, flags = ["c", "cpp"], args.strip()  # polyglot: gcc's flags mean nothing to go/rustc/javac
    shlex.split(flags)  # refuse unbalanced quotes now, not in the container
    for target in targets:
        settings.language_flags[target] = flags
    return f"compiler flags for {', '.join(targets)}: {flags or '(none)'}\n"


@line_magic("lang")
def _lang(settings: SessionSettings, args: str) -> str:
    """%lang NAME — language of the following cells that have no %%LANG line"""
    chosen = cell_language(args.strip())
    if chosen is None:
        raise MagicError(f"unknown language {args.strip()!r}; known: {', '.join(LANGUAGES)}")
    settings.language = chosen
    return f"cells without a %%LANG line now run as {chosen.name}\n"


@line_magic("state")
def _state(settings: SessionSettings, args: str) -> str:
    """%state on|off — carry variables and definitions to the next cell (default on); %state alone shows what was"""
    if not args.strip():
        return state_text(settings.keep_state, settings.state_reports)
    settings.keep_state = parse_on_off(args)
    return f"variables {'are' if settings.keep_state else 'are not'} carried to the next cell\n"


def state_text(on: bool, reports: dict[str, dict]) -> str:
    """What ``%state`` shows: on or off, and per language what its last cell carried."""
    lines = [f"state is {'on' if on else 'off'}: variables {'are' if on else 'are not'} carried to the next cell"]
    for lang, report in sorted(reports.items()):
        carried = report.get("carried") or {}
        kinds = ", ".join(f"{v} {k}" for k, v in carried.items() if k not in ("count", "bytes"))
        size = f", {carried['bytes']} bytes" if "bytes" in carried else ""
        lines.append(f"{lang}: {carried.get('count', 0)} carried ({kinds}){size}")
        if report.get("names"):
            lines.append("  variables: " + ", ".join(report["names"]))
        for name, why in sorted((report.get("not_carried") or {}).items()):
            lines.append(f"  not carried: {name}: {why}")
    if not reports:
        lines.append("(no cell has saved state yet)")
    return "\n".join(lines) + "\n"


@line_magic("matplotlib")
def _matplotlib(settings: SessionSettings, args: str) -> None:
    """%matplotlib inline — accepted for compatibility (figures are always inline)"""
    _python_only(settings, "matplotlib")


@line_magic("pip")
def _pip(settings: SessionSettings, args: str) -> None:
    """%pip install|uninstall|list PACKAGE... — packages for the following cells (installed in a separate container; cells keep no network)"""  # noqa: E501  one help line
    raise MagicError("%pip is run by the kernel")  # the kernel's PackagesMixin handles %pip, %npm, %gem


@line_magic("npm")
def _npm(settings: SessionSettings, args: str) -> None:
    """%npm install|uninstall|list PACKAGE... — JavaScript packages for the following cells (NODE_PATH)"""
    raise MagicError("%npm is run by the kernel")


@line_magic("gem")
def _gem(settings: SessionSettings, args: str) -> None:
    """%gem install|uninstall|list GEM... — Ruby gems for the following cells (--local FILE.gem from /workspace)"""
    raise MagicError("%gem is run by the kernel")


def help_text(in_container: bool = False) -> str:
    """What %help and %lsmagic print (``in_container``: the cells run the other magics themselves)."""
    if in_container:
        lines = ["Kernel-side magics (dockerkernel applies them itself, before the cell's container starts; only in "
                 "the lines at the top of a cell; settings last for the session):", ""]
        lines += [f"  {(LINE_MAGICS[name].__doc__ or name).strip().splitlines()[0]}" for name in KERNEL_MAGICS
                  if name in LINE_MAGICS]
        lines += ["  %%python, %%ruby, %%c, %%cpp, %%go, %%rust, %%java — run this cell in that language (same "
                  "/workspace); in docker-polyglot also %%javascript and %%bash (in docker-python these two are "
                  "IPython's)", ""]
        lines += ["IPython's magics (%time, %%writefile, %%file, %env, %matplotlib, %cd, ...) run inside the cell's "
                  "container, anywhere IPython accepts them: %lsmagic lists them.", ""]
        return "\n".join(lines) + "\n"
    lines = ["dockerkernel magics (at the top of a cell; settings last for the session):", ""]
    lines += [f"  {(handler.__doc__ or name).strip().splitlines()[0]}" for name, handler in LINE_MAGICS.items()]
    lines += [f"  {text}" for text in CELL_MAGICS.values()]
    return "\n".join(lines) + "\n"
