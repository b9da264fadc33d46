"""Kernel-side magics: parsed and applied without a container (pure functions, no Jupyter).

A cell may start with magic lines (blank lines and comments between them are fine):

    %timeout 10          ← applies to this cell and the following ones
    %memory 1g
    print("hi")          ← the rest is the program

``%%file PATH`` as the first line makes the whole cell the content of a workspace file.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
              "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}

LINE_MAGICS = {
    "timeout": "%timeout SECONDS — wall-clock limit per cell",
    "memory": "%memory SIZE — memory limit (e.g. 256m, 1g); swap is never added",
    "cpus": "%cpus N — CPU limit (fractions allowed, e.g. 0.5)",
    "pids": "%pids N — limit on processes and threads",
    "output": "%output SIZE — output cap per cell (e.g. 1m)",
    "env": "%env NAME=VALUE — set an environment variable for the following cells (%env alone lists them)",
    "limits": "%limits — show the limits that apply to the next cell",
    "network": "%network on|off — network access (only if the administrator set DockerKernel.allow_network)",
    "image": "%image NAME — run the following cells in another image (only if DockerKernel.allow_image_change)",
    "lsmagic": "%lsmagic — list the magics",
    "help": "%help — this help",
    "cflags": "%cflags [LANG:] FLAGS — extra compiler flags (e.g. -O2 -lm) for this kernel's language; in polyglot for C and C++, or for LANG (c, cpp, go, rust, java)",
    "lang": "%lang NAME — language of the following cells that have no %%LANG line",
    "state": "%state on|off — Python: carry picklable variables, functions and classes to the next cell (default on)",
    "matplotlib": "%matplotlib inline — accepted for compatibility (figures are always inline)",
}
CELL_MAGICS = {
    "file": "%%file PATH — write the rest of the cell to PATH in /workspace, without a container",
    "LANG": "%%python, %%javascript, %%bash, %%ruby, %%c, %%cpp, %%go, %%rust, %%java — run this cell in that language (same /workspace)",
}

# For a language whose cells understand magics themselves (Python: IPython), the kernel takes
# only these from the top of a cell and leaves every other magic in the source. %lsmagic is
# answered by both: the kernel lists its own, then the cell lists IPython's.
KERNEL_MAGICS = ("timeout", "memory", "cpus", "pids", "output", "network", "image", "state", "lang", "cflags",
                 "limits", "help")
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
    line 3 of the program (compiler and traceback line numbers stay right).
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


def help_text(in_container: bool = False) -> str:
    """What %help and %lsmagic print (``in_container``: the cells run the other magics themselves)."""
    if in_container:
        lines = ["Kernel-side magics (dockerkernel applies them itself, before the cell's container starts; only in the "
                 "lines at the top of a cell; settings last for the session):", ""]
        lines += [f"  {LINE_MAGICS[name]}" for name in KERNEL_MAGICS if name in LINE_MAGICS]
        lines += ["  %%python, %%ruby, %%c, %%cpp, %%go, %%rust, %%java — run this cell in that language (same "
                  "/workspace); in docker-polyglot also %%javascript and %%bash (in docker-python these two are IPython's)",
                  ""]
        lines += ["IPython's magics (%time, %%writefile, %%file, %env, %matplotlib, %cd, ...) run inside the cell's "
                  "container, anywhere IPython accepts them: %lsmagic lists them.", ""]
        return "\n".join(lines) + "\n"
    lines = ["dockerkernel magics (at the top of a cell; settings last for the session):", ""]
    lines += [f"  {text}" for text in LINE_MAGICS.values()]
    lines += [f"  {text}" for text in CELL_MAGICS.values()]
    return "\n".join(lines) + "\n"
