"""The contract between the Jupyter side and the Docker side: a cell request, its events, its outcome.

No Docker and no Jupyter here (DESIGN.md §2): the kernel (``dockerkernel.kernel``), the
command line (``dockerkernel run``), ``doctor`` and the tests build a ``CellRequest`` with
``build_request``, hand it to ``dockerkernel.sandbox.Sandbox.run``, receive ``Output``,
``Notice`` and ``protocol.Frame`` events, and get back a ``CellOutcome`` whose ``reason`` is a
``Reason``. What each reason means to a user (error name, message, exit status) is the table
in ``dockerkernel.kernel.replies``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from . import sources
from .languages import Language
from .protocol import Frame

MiB = 1 << 20


class Reason(str, Enum):
    """How a cell ended. A ``str`` enum: ``Reason.OK == "ok"`` holds, so logs and JSON stay plain."""

    OK = "ok"  # the program exited with status 0
    EXIT = "exit"  # it exited with another status (or sent its own error)
    SIGNAL = "signal"  # it was killed by a signal it did not get from us
    COMPILE = "compile"  # the compile step failed; nothing ran
    TIMEOUT = "timeout"  # the wall-clock limit was reached
    OOM = "oom"  # the memory limit was reached
    OUTPUT = "output"  # the output cap was reached
    PIDS = "pids"  # the process/thread limit was reached
    INTERRUPT = "interrupt"  # the user interrupted the cell
    LOST = "lost"  # the container ended without the runner's report

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Limits:
    """Everything that shapes a cell container (part of the pool key)."""

    memory: int = 512 * MiB  # bytes; swap is never added
    cpus: float = 1.0  # CPUs, fractions allowed
    pids: int = 256  # processes + threads at once
    timeout: float = 30.0  # seconds of wall-clock time (time waiting for input does not count)
    output: int = 1 * MiB  # bytes of stream output before the program is stopped
    tmp_size: int = 64 * MiB  # bytes of the /tmp tmpfs
    network: str = "none"  # Docker network mode ("none" = no network)
    runtime: str = ""  # OCI runtime: "" = the daemon's default (runc); "runsc" for gVisor
    max_frame: int = 16 * MiB  # bytes of one rich-output frame
    display_budget: int = 64 * MiB  # bytes of rich output per cell
    packages: str = ""  # the kernel's package environment (a volume, mounted read-only; '' = none)

    def container_key(self) -> tuple:
        """The fields a running container is built with (timeout/output are enforced by us)."""
        return (self.memory, self.cpus, self.pids, self.tmp_size, self.network, self.runtime, self.packages)


@dataclass(frozen=True)
class CellRequest:
    """One cell to run (built by ``build_request``)."""

    language: Language
    source: bytes
    image: str
    limits: Limits
    env: dict = field(default_factory=dict)
    execution_count: int = 0
    stdin: bool = False  # the frontend can answer input requests
    stdin_file: str = ""  # %stdin FILE: the program's stdin is this workspace file (any frontend)
    state: bool = True  # Python: carry globals to the next cell
    source_file: str = ""  # default: the language's
    compile: tuple[str, ...] | None = None  # compiled languages: argv run before the program
    run: tuple[str, ...] | None = None  # default: the language's run_command


@dataclass
class CellOutcome:
    """How a cell ended, with what the kernel needs to report it."""

    reason: Reason
    exit_code: int | None = None
    signal: int | None = None
    error: dict | None = None  # the program's own error frame, if it sent one
    elapsed: float = 0.0  # seconds
    files: list[str] | None = None
    diagnostics: str = ""  # compiler output when reason is COMPILE
    stderr_tail: str = ""  # the end of stderr, to read an exception name from
    container_id: str = ""
    image_id: str = ""
    warm: bool = False  # the interpreter was loaded before the cell arrived
    from_pool: bool = False  # the container was pre-started by the pool
    daemon: dict | None = None  # {"name", "id"} of the Docker daemon (the node) that ran the cell


@dataclass(frozen=True)
class Output:
    """A chunk of program output."""

    stream: str  # stdout | stderr
    data: bytes


@dataclass(frozen=True)
class Notice:
    """Something the user should read (a dropped frame, ...), shown on stderr."""

    text: str


CellEvent = Output | Notice | Frame
EventCallback = Callable[[CellEvent], None]
# asks the user for one line: (prompt, password) -> answer, or None for end-of-file
InputCallback = Callable[[str, bool], "asyncio.Future[str | None]"]


class RequestSettings(Protocol):
    """What ``build_request`` reads from the session (``magics.SessionSettings`` has it)."""

    keep_state: bool
    cell_stdin: str  # %stdin FILE of the cell being built ('' = none)

    def image_for(self, language: Language) -> str:
        """The image a cell of ``language`` runs in."""

    def flags_for(self, language: Language) -> str:
        """Extra compiler flags for ``language`` ('' = the language's defaults)."""

    def cell_environment(self, language: Language | None = None) -> dict[str, str]:
        """Environment variables of a cell of ``language``."""

    @property
    def limits(self) -> Limits:
        """The limits of the next cell."""


def build_request(language: Language, text: str, settings: RequestSettings, count: int = 0) -> CellRequest:
    """The one way a cell (or a file given to ``dockerkernel run``) becomes a ``CellRequest``.

    Applies the language's convenience rule (``sources.prepare``: ``main`` wrappers, the Java
    class name), the compiler flags and the compile/run argv. ``text`` is the source without
    magic lines; undecodable bytes travel as surrogate escapes. Raises ``ValueError`` for
    compiler flags with unbalanced quotes.
    """
    program, source_file = sources.prepare(language.wrapper, text, language.source_file)
    flags = shlex.split(settings.flags_for(language) or language.default_flags)
    compile_argv, run_argv = language.command_lines(flags)
    return CellRequest(
        language=language,
        source=program.encode("utf-8", "surrogateescape"),
        image=settings.image_for(language),
        limits=settings.limits,
        env=settings.cell_environment(language),
        execution_count=count,
        state=settings.keep_state,
        stdin_file=getattr(settings, "cell_stdin", ""),
        source_file=source_file,
        compile=tuple(compile_argv) if compile_argv else None,
        run=tuple(run_argv) if run_argv else None,
    )


def compile_key(request: CellRequest, image_id: str) -> str | None:
    """What determines a compiled cell's build, hashed: image, compiler argv, file name, source.

    The runner keeps builds under this key in the kernel's workspace and reuses one instead
    of compiling the same program again (see ``protocol``, ``compile_key``). None for a cell
    that is not compiled.
    """
    if not request.compile:
        return None
    digest = hashlib.sha256()
    for part in (image_id, json.dumps(list(request.compile)), request.source_file or request.language.source_file):
        digest.update(part.encode() + b"\0")
    digest.update(request.source)
    return digest.hexdigest()
