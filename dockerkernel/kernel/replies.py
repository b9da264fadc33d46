"""How a cell's outcome is told to the user: one table keyed by ``Reason``.

``REPLIES`` gives, for every way a cell can end, the Jupyter ``error`` name, its message and
the exit status of ``dockerkernel run``; the README's "How a cell can end" is this table.
``verdict`` turns a ``CellOutcome`` into what the kernel publishes; ``exit_status`` is what
the command line returns. Pure: no Jupyter messages, no Docker.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field

from ..cells import CellOutcome, CellRequest, Reason
from ..magics import format_size
from ..wire import cell_label, relabel

SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


@dataclass(frozen=True)
class Reply:
    """One row: the error name, its message (``str.format`` fields below) and the CLI exit status.

    Message fields: ``timeout`` (seconds), ``memory``, ``output`` (formatted sizes), ``pids``,
    ``exit_code``, ``signal_name``, ``described``. ``exit_status`` None: the program's own.
    """

    ename: str
    message: str
    exit_status: int | None


REPLIES: dict[Reason, Reply] = {
    Reason.OK: Reply("", "", 0),
    Reason.EXIT: Reply("ExitCode", "the program exited with status {exit_code}", None),
    Reason.SIGNAL: Reply("{signal_name}", "the program was killed by {signal_name} ({described})", None),
    Reason.COMPILE: Reply("CompileError", "", None),
    Reason.TIMEOUT: Reply(
        "CellTimeout",
        "the cell ran longer than {timeout:g} s and was stopped (%timeout SECONDS changes the limit)",
        124,
    ),
    Reason.OOM: Reply(
        "OutOfMemory",
        "the cell needed more than {memory} of memory and was killed (%memory SIZE changes the limit)",
        137,
    ),
    Reason.OUTPUT: Reply(
        "OutputLimitExceeded", "the cell printed more than {output}; output was cut there and the program stopped", 125
    ),
    Reason.PIDS: Reply(
        "PidsLimitExceeded",
        "the cell tried to run more than {pids} processes or threads at once (a fork bomb?) and was stopped",
        125,
    ),
    Reason.INTERRUPT: Reply("KeyboardInterrupt", "the cell was interrupted; its container was killed", 130),
    Reason.LOST: Reply(
        "ContainerLost",
        "the cell's container ended unexpectedly (exit code {exit_code}); the next cell gets a new one",
        125,
    ),
}


@dataclass
class Verdict:
    """What to publish for a cell that did not end well: stderr text first, then one ``error``."""

    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)
    stderr: str = ""  # published as a stderr stream before the error (held-back stderr, notices)


# a compiler's error line: gcc/clang "error:", rustc "error[E0384]:", javac "error:"
_ERROR_LINE = re.compile(r"(?:^|[\s:])(?:fatal )?error(?:\[[A-Z]?\d+\])?:", re.IGNORECASE)
_POSITION = re.compile(r":\d+(:\d+)?: ")


def compile_summary(lines: list[str]) -> str:
    """The one-line summary of compiler output: the first *error* diagnostic, never a warning.

    ``go build`` never says "error" (``./cell.go:3:2: undefined: x``): then the first line
    with a position that is not a warning, else the first line. The kernel's own notices
    (``dockerkernel: twice from Cell In[2] is dropped: … (Cell In[2]:3: error: …)``) are not
    diagnostics, though they quote one.
    """
    diagnostics = [line for line in lines if not line.startswith("dockerkernel: ")]  # our notices quote errors
    found = next((line for line in diagnostics if _ERROR_LINE.search(line)), None)
    if found is None:
        found = next((line for line in diagnostics if _POSITION.search(line) and "warning" not in line.lower()), None)
    return (found or (lines[0] if lines else "")).strip()


def exception_from_stderr(request: CellRequest, outcome: CellOutcome, held: str) -> Verdict | None:
    """A Java/Go/Rust (…) exception read from stderr with the language's ``error_pattern``.

    ``held`` is the stderr the kernel held back at the end of the cell: the traceback is cut
    from it, so it is shown once, inside the error (what Jupyter frontends and
    jupyter_kernel_test expect); what came before it is still published as stderr.
    """
    pattern = request.language.error_pattern
    if not pattern:
        return None
    kept_stderr = ""
    found = list(re.finditer(pattern, held, re.MULTILINE))
    if not found:
        # the traceback's first line was published already (output that reached the kernel
        # out of order released it): name the exception from the tail, show the rest as stderr
        found = list(re.finditer(pattern, outcome.stderr_tail, re.MULTILINE))
        kept_stderr, held = held, ""
    if not found:
        return None
    last = found[-1]
    groups = {k: relabel(v, request.source_file, request.execution_count) for k, v in last.groupdict().items() if v}
    ename = groups.get("ename") or "Panic"
    evalue = (groups.get("evalue") or "").strip()
    if held:
        # the traceback starts where its first line starts (Go's "panic:" comes before the stack)
        first = min(m.start() for m in found)
        start = held.rfind("\n", 0, first) + 1
        tail = relabel(held[start:], request.source_file, request.execution_count).rstrip("\n")
        return Verdict(ename, evalue, tail.split("\n"), stderr=held[:start])
    traceback = [f"{ename}: {evalue}", f"(the program exited with status {outcome.exit_code}; its stderr is above)"]
    return Verdict(ename, evalue, traceback, stderr=kept_stderr)


def _fields(outcome: CellOutcome, request: CellRequest) -> dict:
    limits = request.limits
    signum = outcome.signal or 0
    return {
        "timeout": limits.timeout,
        "memory": format_size(limits.memory),
        "output": format_size(limits.output),
        "pids": limits.pids,
        "exit_code": outcome.exit_code,
        "signal_name": SIGNAL_NAMES.get(signum, f"signal {signum}"),
        "described": signal.strsignal(signum) if signum else "unknown",
    }


def verdict(outcome: CellOutcome, request: CellRequest, held_stderr: str = "", kept=None) -> Verdict | None:
    """What the user sees when a cell ended badly; None when it ended well.

    ``held_stderr`` is stderr not yet published (see ``streams.StreamCoalescer.hold``); it is
    returned in ``Verdict.stderr`` unless the error carries it as its traceback. ``kept``
    (``notebook_program.NotebookProgram``'s build of a compiled cell) points diagnostics about
    code kept from earlier cells at those cells.
    """
    reason = Reason(outcome.reason)
    if reason is Reason.OK:
        return None
    if reason is Reason.EXIT and outcome.error:
        err = outcome.error
        traceback = [str(x) for x in err.get("traceback") or []]
        return Verdict(str(err.get("ename") or "Error"), str(err.get("evalue") or ""), traceback, held_stderr)
    if reason is Reason.COMPILE:
        text = relabel(outcome.diagnostics, request.source_file, request.execution_count)
        if kept is not None:
            text = kept.relabel(text, cell_label(request.execution_count))
        lines = text.rstrip("\n").split("\n")
        return Verdict("CompileError", compile_summary(lines), lines, held_stderr)
    if reason is Reason.EXIT:
        found = exception_from_stderr(request, outcome, held_stderr)
        if found is not None:
            return found
    row = REPLIES[reason]
    values = _fields(outcome, request)
    evalue = row.message.format(**values)
    stderr = held_stderr
    if reason is Reason.OUTPUT:
        stderr += f"\n[dockerkernel: output limit of {values['output']} reached; the program was stopped]\n"
    return Verdict(row.ename.format(**values), evalue, [], stderr)


def exit_status(outcome: CellOutcome) -> int:
    """The exit status of ``dockerkernel run``: the program's own, 128+N for signal N, else the table's."""
    reason = Reason(outcome.reason)
    if reason is Reason.SIGNAL:
        return 128 + (outcome.signal or 0)
    row = REPLIES[reason]
    if row.exit_status is not None:
        return row.exit_status
    return outcome.exit_code or 1


def provenance(request: CellRequest, outcome: CellOutcome, started: float) -> dict:
    """How the cell ran, for the reply's metadata (``metadata["dockerkernel"]``) and nbconvert."""
    limits = request.limits
    return {
        "image": request.image,
        "image_id": outcome.image_id,
        "runtime": limits.runtime or "default",
        "limits": {
            "memory": limits.memory, "cpus": limits.cpus, "pids": limits.pids, "timeout": limits.timeout,
            "output": limits.output, "network": limits.network,
        },
        "outcome": str(outcome.reason),
        "exit_code": outcome.exit_code,
        "signal": outcome.signal,
        "wall_time": round(outcome.elapsed, 6),
        "warm_container": outcome.from_pool,
        "daemon": outcome.daemon or {},
        "started": started,
    }
