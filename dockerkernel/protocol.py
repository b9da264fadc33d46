"""The wire protocol between the kernel and the runner inside a cell container.

A cell container runs ``python3 /opt/dockerkernel/runner.py`` (under ``docker-init``).
The kernel attaches to the container's stdin/stdout/stderr *before* starting it.

Kernel → container (stdin)
--------------------------
One line of JSON (the *header*), then exactly ``header["size"]`` bytes of cell source::

    {"v": 1, "nonce": "<32 hex>", "end_token": "<32 hex>", "size": 12,
     "source_file": "cell.py", "run": ["bash", "{file}"] | null,
     "env": {"NAME": "VALUE"}, "execution_count": 3, "stdin": true,
     "state": true}\\n
    print("hi")\\n

``run`` is the argv to start after the source was written to ``/tmp/dk/<source_file>``
(``{file}`` is replaced by that path, ``{exe}`` by ``/tmp/dk/cell``); ``compile``, when not
null, runs first with its output collected: if it fails, the end frame carries
``compile_failed`` and the ``diagnostics`` instead of running anything. ``null`` ``run`` means
the container was started with a *warm* interpreter (``runner.py --warm ARGV``) that is
already waiting: the runner pipes the header line and the source into that interpreter's
stdin instead. The program itself never
sees the container's stdin: it reads from an empty pipe, so ``input()`` gets EOF at once.
A warm interpreter may announce its exit status (``"<status>\n"``) on the pipe whose
descriptor is in ``$DK_DONE_FD`` just before it exits; the runner then reports the end
without waiting for the process teardown (it can only end its own cell early). A *warm
compiler* (Java: ``images/java/DkWarm.java``, a JVM with javac loaded) gets ``compile``,
``run`` and ``compile_key`` like the runner and does what the runner would do with them; it
announces a failed compile as ``"compile_failed <status> <length>\n"`` and that many bytes of
diagnostics, which the runner reports as it reports a failed compiler process. After its end
frames the runner stays alive for half a second: the kernel removes the container sooner,
and Docker relays the last bytes of a container that is exiting ~2 ms later than those of a
live one.

Interactive input: a program asks with an ``input`` frame (``{"prompt": "name? ",
"password": false}``, see below); the kernel forwards it to the frontend as an
``input_request`` and writes the answer to the container's stdin as one JSON line
``{"input": "Ada"}`` (``{"input": null}`` for no answer). The runner passes it to the program
on a separate pipe whose descriptor is in ``$DK_INPUT_FD``. When the frontend cannot answer
(``"stdin": false``, e.g. nbconvert) that pipe is closed at once: the program sees EOF.
``"state"`` tells the Python boot code whether to carry globals between cells.

A program started by the runner (every language but the warm interpreters) reads a
pseudo-terminal as its stdin when the frontend can answer: when one of its tasks blocks
reading it (seen in ``/proc/PID/task/TID/syscall``) and nothing is left to read, the runner
itself sends an ``input`` frame (signed with the nonce, prompt "" since the program has
written its prompt already; ``password`` when the program turned echo off) and types the
answer, or Ctrl-D for no answer, into the terminal. ``"stdin_file": "NAME"`` (``%stdin NAME``)
makes the workspace file NAME the program's stdin instead, and the warm interpreters' answer
pipe, with any frontend.

``"compile_key"`` (64 hex digits, with ``compile``) names the build: the kernel derives it from
the image, the compiler argv, the file name and the source, so the runner can reuse a build
it kept in the kernel's workspace (``/workspace/.dockerkernel/compiled/KEY``) instead of
compiling the same program again.

Container → kernel (stdout / stderr)
------------------------------------
The program's own bytes pass through untouched. Structured events are *frames* embedded in
the same byte streams::

    ESC "DK " <token> " " <kind> " " <length> LF <length bytes of JSON>

``token`` is either the cell's ``nonce`` or the runner's ``end_token``:

* frames signed with ``nonce`` come from helpers running as the program (``display()``, the
  Python/Node boot code): kinds ``display``, ``update``, ``clear``, ``result``, ``error``,
  ``input``, ``state`` (what the boot code carried to the next cell, for the reply metadata).
  The program can forge them, but only for its own cell: the nonce is new for every cell
  and every container serves one cell.
* frames signed with ``end_token`` come only from the runner, which keeps the token to
  itself (the program never receives it and cannot read the runner's memory, which is made
  non-dumpable): ``end`` (on stdout with the exit status, and an empty one on stderr, so the
  kernel knows both streams are drained) and ``limit`` (a limit was hit while running).

Bytes that look like a frame but carry an unknown token or a malformed header are output, so
a program that prints look-alike bytes by accident loses nothing. A frame larger than
``max_frame`` is skipped (never buffered) and reported as a ``FrameTooLarge`` event.

``FrameParser`` below is the kernel side: feed it bytes in chunks split anywhere; it yields
``Text`` and ``Frame`` events in order. The encoder is ``wire.encode_frame``, the very code the
containers run (copied into each image as ``/opt/dockerkernel/python/dkwire.py``); ``boot.js``
has the only other encoder.

Environment of a cell's processes and the image layout
------------------------------------------------------
``$DK_NONCE`` is the cell's nonce (``display``, ``input`` and the boot code sign their frames
with it); ``$DK_INPUT_FD`` and ``$DK_DONE_FD`` are the pipes above; ``$DK_RUNTIME`` is
``runsc`` under gVisor (the boot code then writes in short pieces). In the image,
``/opt/dockerkernel/`` holds ``runner.py``, ``boot.js``, ``display`` and ``input`` (linked
into ``/usr/local/bin``), and ``python/`` (``dkwire.py``, the Python boot helpers); the
program is written to ``/tmp/dk/<source_file>`` (``CELL_DIR``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .wire import CELL_DIR, FRAME_MAGIC, encode_frame  # the one codec; the containers run the same file

__all__ = ["CELL_DIR", "FRAME_MAGIC", "Frame", "FrameError", "FrameParser", "Text", "encode_frame", "make_header"]
# header after the magic: token, kind, length; bounded so garbage cannot grow the buffer
_HEADER_RE = re.compile(rb"([0-9a-f]{32}) ([a-z_]{1,16}) ([0-9]{1,12})\n")
_MAX_HEADER = 32 + 1 + 16 + 1 + 12 + 1

PROGRAM_KINDS = frozenset({"display", "update", "clear", "result", "error", "input", "state"})
RUNNER_KINDS = frozenset({"end", "limit"})


@dataclass(frozen=True)
class Text:
    """Plain program output."""

    data: bytes


@dataclass(frozen=True)
class Frame:
    """A decoded side-channel frame."""

    kind: str
    payload: dict = field(default_factory=dict)
    from_runner: bool = False


@dataclass(frozen=True)
class FrameError:
    """A frame that could not be accepted (too large, bad JSON)."""

    reason: str
    size: int


class FrameParser:
    """Incremental splitter of one output stream into ``Text`` and ``Frame`` events."""

    def __init__(self, nonce: str, end_token: str, max_frame: int = 16 << 20):
        """Accept frames signed with ``nonce`` (program kinds) or ``end_token`` (runner kinds)."""
        self._tokens = {nonce.encode(): PROGRAM_KINDS, end_token.encode(): RUNNER_KINDS}
        self._runner_token = end_token.encode()
        # the runner's frames are found even inside a program frame that lies about its
        # length: the end token is secret, so these bytes can only come from the runner
        self._runner_prefix = FRAME_MAGIC + self._runner_token + b" "
        self.max_frame = max_frame
        self._buf = bytearray()
        self._skip = 0  # bytes of an oversized frame still to discard
        self._skip_tail = b""  # last bytes skipped, in case a runner prefix straddles two reads
        self._pending: tuple[bytes, str, int] | None = None  # (token, kind, length) awaiting body
        self._scanned = 0  # how much of a pending body was searched for the runner prefix

    def feed(self, data: bytes) -> Iterator[Text | Frame | FrameError]:
        """Consume ``data``; yield the events that are complete."""
        if self._skip:
            window = self._skip_tail + data
            found = window.find(self._runner_prefix)
            if 0 <= found < len(self._skip_tail) + self._skip:
                self._skip, self._skip_tail = 0, b""
                data = window[found:]
            else:
                dropped = min(self._skip, len(data))
                self._skip -= dropped
                kept = window[: len(self._skip_tail) + dropped][-(len(self._runner_prefix) - 1) :]
                self._skip_tail = kept if self._skip else b""
                data = data[dropped:]
        self._buf += data
        yield from self._drain(final=False)

    def close(self) -> Iterator[Text | Frame | FrameError]:
        """End of stream: whatever is left is output."""
        yield from self._drain(final=True)
        if self._pending is not None:
            token, kind, length = self._pending
            self._pending = None
            yield FrameError(f"truncated {kind} frame", length)
        if self._buf:
            yield Text(bytes(self._buf))
            self._buf.clear()

    # the parser's hot loop, a state machine over one buffer (pending body, magic, header);
    # fuzzed in tests/unit/test_fuzz_protocol.py, kept whole so the states stay in one view
    def _drain(self, final: bool) -> Iterator[Text | Frame | FrameError]:  # noqa: C901
        buf = self._buf
        while buf:
            if self._pending is not None:
                token, kind, length = self._pending
                if token != self._runner_token:
                    prefix = self._runner_prefix
                    start = max(0, self._scanned - len(prefix))
                    cut = buf.find(prefix, start, min(len(buf), length + len(prefix) - 1))
                    if 0 <= cut < length:
                        yield FrameError(f"{kind} frame cut short (declared {length} bytes, got {cut})", cut)
                        del buf[:cut]
                        self._pending, self._scanned = None, 0
                        continue
                    self._scanned = len(buf)
                    if not final and length <= len(buf) < length + len(prefix) - 1 and any(
                        prefix.startswith(bytes(buf[k:length])) for k in range(max(0, length - len(prefix) + 1), length)
                    ):
                        return  # the body's last bytes may begin the runner's frame: wait and see
                if len(buf) < length:
                    return
                body = bytes(buf[:length])
                del buf[:length]
                self._pending, self._scanned = None, 0
                try:
                    payload = json.loads(body)
                    if not isinstance(payload, dict):
                        raise ValueError("payload is not an object")
                except ValueError as exc:
                    yield FrameError(f"malformed {kind} frame: {exc}", length)
                    continue
                yield Frame(kind, payload, from_runner=token == self._runner_token)
                continue
            start = buf.find(FRAME_MAGIC)
            if start < 0:
                # keep a tail that may be the beginning of a magic split across reads
                keep = 0 if final else _partial_suffix(buf, FRAME_MAGIC)
                cut = len(buf) - keep
                if cut:
                    yield Text(bytes(buf[:cut]))
                    del buf[:cut]
                return
            if start:
                yield Text(bytes(buf[:start]))
                del buf[:start]
            header_end = buf.find(b"\n", len(FRAME_MAGIC), len(FRAME_MAGIC) + _MAX_HEADER)
            if header_end < 0:
                if len(buf) < len(FRAME_MAGIC) + _MAX_HEADER and not final:
                    return  # header may still be arriving
                yield Text(bytes(buf[:1]))  # not a frame: the ESC is output
                del buf[:1]
                continue
            match = _HEADER_RE.fullmatch(bytes(buf[len(FRAME_MAGIC) : header_end + 1]))
            kinds = self._tokens.get(match.group(1)) if match else None
            if not match or kinds is None or match.group(2).decode() not in kinds:
                yield Text(bytes(buf[:1]))
                del buf[:1]
                continue
            token, kind, length = match.group(1), match.group(2).decode(), int(match.group(3))
            del buf[: header_end + 1]
            if length > self.max_frame:
                yield FrameError(f"{kind} frame of {length} bytes exceeds the {self.max_frame}-byte limit", length)
                dropped = min(length, len(buf))
                resume = buf.find(self._runner_prefix, 0, dropped) if token != self._runner_token else -1
                if resume >= 0:  # the runner spoke inside the would-be body: the frame was a lie
                    del buf[:resume]
                    continue
                self._skip_tail = bytes(buf[:dropped][-(len(self._runner_prefix) - 1) :])
                del buf[:dropped]
                self._skip = length - dropped
                if self._skip:
                    return
                self._skip_tail = b""
                continue
            self._pending = (token, kind, length)


def _partial_suffix(buf: bytearray, magic: bytes) -> int:
    """Length of the longest suffix of ``buf`` that is a proper prefix of ``magic``."""
    for n in range(min(len(magic) - 1, len(buf)), 0, -1):
        if buf.endswith(magic[:n]):
            return n
    return 0


def make_header(
    *,
    nonce: str,
    end_token: str,
    source: bytes,
    source_file: str,
    run: list[str] | None,
    env: dict[str, str],
    execution_count: int,
    stdin: bool = False,
    state: bool = True,
    compile: list[str] | None = None,
    stdin_file: str | None = None,
    compile_key: str | None = None,
) -> bytes:
    """The stdin header line plus the source, as the runner expects them."""
    header = {
        "v": 1,
        "nonce": nonce,
        "end_token": end_token,
        "size": len(source),
        "source_file": source_file,
        "run": run,
        "env": env,
        "execution_count": execution_count,
        "stdin": stdin,
        "state": state,
        "compile": compile,
    }
    if stdin_file:
        header["stdin_file"] = stdin_file
    if compile_key:
        header["compile_key"] = compile_key
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + source
