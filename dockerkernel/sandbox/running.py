"""The life of one cell inside its container: send it, relay its events, say how it ended.

Two sides: a reader thread (``_read_attach``) demultiplexes the attach stream, splits frames
(``protocol.FrameParser``) and enforces the output budgets; the event loop (``RunningCell.run``)
relays events to the kernel, honours the deadline, forwards input requests and, at the end,
turns the runner's report into a ``Reason`` (``reason_from_report``, pure). The thread talks
to the loop only through the queue messages below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from .. import protocol
from ..cells import CellOutcome, CellRequest, EventCallback, InputCallback, Notice, Output, Reason, compile_key
from ..errors import SandboxError
from .engine import CellContainer, demux

log = logging.getLogger(__name__)

STDERR_TAIL = 8192  # bytes of stderr kept to read an exception name from


# ---- messages from the reader thread (and the input relay) to the event loop -------------
@dataclass(frozen=True)
class _Events:
    batch: list  # Output | Notice | _StreamFrame | _LimitHit


@dataclass(frozen=True)
class _StreamFrame:
    stream: str
    frame: protocol.Frame


@dataclass(frozen=True)
class _LimitHit:
    reason: Reason


@dataclass(frozen=True)
class _Stop:
    reason: Reason


class _Eof:
    """The attach stream ended."""


class _Tick:
    """Wake the loop (an input answer arrived: the deadline moved)."""


@dataclass
class _Progress:
    """What the event loop has learnt about the cell so far."""

    report: dict | None = None  # the runner's end report (stdout end frame)
    stderr_done: bool = False  # the runner's stderr end frame arrived
    error: dict | None = None  # the program's own error frame
    reason: Reason | None = None  # set when the cell must end now
    eof: bool = False

    @property
    def finished(self) -> bool:
        return self.eof or (self.report is not None and self.stderr_done)


def limit_reason(which: str) -> Reason:
    """The reason of a runner's ``limit`` frame (it names the limit; today only ``pids``)."""
    try:
        return Reason(which)
    except ValueError:
        return Reason.PIDS


def reason_from_report(report: dict) -> Reason:
    """How a cell ended, from the runner's end report (``runner.py`` ``finish``)."""
    if report.get("compile_failed"):
        return Reason.COMPILE
    if report.get("oom_killed") and (report.get("exit_code") or report.get("signal")):
        return Reason.OOM
    if report.get("pids_limit_hit"):
        # a fork bomb's parent may exit 0 while its children still hit the limit
        return Reason.PIDS
    if report.get("signal"):
        return Reason.SIGNAL
    if report.get("exit_code"):
        return Reason.EXIT
    return Reason.OK


def reason_from_state(state: dict, eof: bool) -> tuple[Reason, int | None, int | None]:
    """(reason, exit code, signal) from the daemon's ``State`` of a container that sent no report."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return Reason.OOM, None, None
    if not eof or code is None:
        return Reason.LOST, None, None
    if code == 0:
        return Reason.OK, None, None  # the runner exits with the program's status
    if 128 < code < 128 + 65:
        return Reason.SIGNAL, None, code - 128
    return Reason.EXIT, code, None


class RunningCell:
    """One cell in its container (event loop side + reader thread)."""

    def __init__(self, sandbox, container: CellContainer, request: CellRequest, on_event: EventCallback,
                 on_input: InputCallback | None = None):
        """Prepare to run ``request`` in ``container``; ``sandbox`` runs blocking calls and removals."""
        self.sandbox = sandbox
        self.container = container
        self.request = request
        self.on_event = on_event
        self.on_input = on_input
        self.asking = 0  # input requests waiting for the user (the deadline is paused)
        self.ask_tasks: list[asyncio.Future] = []
        self.deadline = 0.0
        self.nonce = secrets.token_hex(16)
        self.end_token = secrets.token_hex(16)
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stop_reason: Reason | None = None
        self.files: list[str] | None = None
        limits = request.limits
        self.parsers = {
            name: protocol.FrameParser(self.nonce, self.end_token, max_frame=limits.max_frame)
            for name in ("stdout", "stderr")
        }
        self.text_budget = limits.output
        self.display_budget = limits.display_budget
        self.over_budget = False
        self.stderr_tail = bytearray()  # last bytes of stderr (exception names of other languages)

    def stop(self, reason: Reason | str) -> None:
        """Ask the cell to end now for ``reason`` (thread-safe)."""
        reason = Reason(reason)
        if self.stop_reason is None:
            self.stop_reason = reason
        self.loop.call_soon_threadsafe(self.queue.put_nowait, _Stop(reason))

    # -- the reader thread -------------------------------------------------------------------
    def _post(self, message) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    def _read_attach(self) -> None:
        """Thread: demultiplex the attach stream, split frames, enforce the output budgets."""
        buf = bytearray()
        try:
            while data := self.container.recv():
                buf += data
                batch: list = []
                for stream, payload in demux(buf):
                    for event in self.parsers[stream].feed(payload):
                        self._take(stream, event, batch)
                if batch:
                    self._post(_Events(batch))
        finally:
            tail = []
            for stream, parser in self.parsers.items():
                for event in parser.close():
                    if isinstance(event, protocol.Text) and not self.over_budget:
                        tail.append(Output(stream, event.data[: max(self.text_budget, 0)]))
            try:
                self._post(_Events(tail))
                self._post(_Eof())
            except RuntimeError:
                pass  # the loop is closed: the kernel is exiting

    def _take(self, stream: str, event, batch: list) -> None:
        """Sort one parser event into ``batch``, counting it against the budgets."""
        if isinstance(event, protocol.Text):
            self._take_text(stream, event.data, batch)
        elif isinstance(event, protocol.Frame):
            if not event.from_runner:
                self.display_budget -= len(str(event.payload))
                if self.display_budget < 0:
                    self._over_budget(batch)
                    return
            batch.append(_StreamFrame(stream, event))
        else:
            batch.append(Notice(f"dockerkernel: {event.reason}; the frame was dropped"))

    def _take_text(self, stream: str, data: bytes, batch: list) -> None:
        if self.over_budget:
            return
        if len(data) > self.text_budget:
            batch.append(Output(stream, data[: self.text_budget]))
            self.text_budget = 0
            self._over_budget(batch)
            return
        self.text_budget -= len(data)
        batch.append(Output(stream, data))
        if stream == "stderr":
            self.stderr_tail += data
            del self.stderr_tail[:-STDERR_TAIL]

    def _over_budget(self, batch: list) -> None:
        if not self.over_budget:
            self.over_budget = True
            batch.append(_LimitHit(Reason.OUTPUT))

    # -- the event loop ----------------------------------------------------------------------
    async def send(self) -> None:
        """Hand the cell to the runner (header + source on stdin). Raises ``SandboxError``."""
        request, container = self.request, self.container
        language = request.language
        # a warm interpreter runs the source itself; a warm compiler (Java) is told how
        # the program is compiled and run, exactly as the runner would be
        interpreter = container.warm and not language.compile_command
        payload = protocol.make_header(
            nonce=self.nonce,
            end_token=self.end_token,
            source=request.source,
            source_file=request.source_file or language.source_file,
            run=None if interpreter else list(request.run or language.run_command or ()),
            compile=None if interpreter else (list(request.compile) if request.compile else None),
            env=dict(request.env),
            execution_count=request.execution_count,
            stdin=request.stdin and self.on_input is not None,
            stdin_file=request.stdin_file or None,
            compile_key=None if interpreter else compile_key(request, container.image_id),
            state=request.state,
        )
        try:
            if len(payload) <= 1 << 16:
                container.send(payload)  # fits the socket buffer: no thread hop on the hot path
            else:
                await self.sandbox._call(container.send, payload)
        except OSError as exc:
            raise SandboxError(f"the cell container went away before the cell started: {exc}") from exc

    async def run(self) -> CellOutcome:
        """Relay the sent cell's events until it ends, and say how it ended."""
        started = time.monotonic()
        # read only after the send: a TLS socket must not be written and read by two threads at once
        threading.Thread(target=self._read_attach, name="dockerkernel-reader", daemon=True).start()
        self.deadline = self.loop.time() + self.request.limits.timeout
        progress = _Progress()
        while progress.reason is None and not progress.finished:
            self._handle(await self._next(), progress)
        return await self._outcome(progress, time.monotonic() - started)

    async def _next(self):
        """The next queue message, or a stop for the deadline (paused while the user is asked)."""
        remaining = None if self.asking else self.deadline - self.loop.time()
        if remaining is not None and remaining <= 0:
            return _Stop(Reason.TIMEOUT)
        try:
            return await asyncio.wait_for(self.queue.get(), remaining)
        except asyncio.TimeoutError:
            return _Stop(Reason.TIMEOUT)

    def _handle(self, message, progress: _Progress) -> None:
        if isinstance(message, _Stop):
            progress.reason = message.reason
        elif isinstance(message, _Eof):
            progress.eof = True
        elif isinstance(message, _Events):
            for event in message.batch:
                self._dispatch(event, progress)

    def _dispatch(self, event, progress: _Progress) -> None:
        """One event: a limit, a runner frame, the program's error/input frame, or output."""
        if isinstance(event, _LimitHit):
            progress.reason = progress.reason or event.reason
        elif not isinstance(event, _StreamFrame):
            self.on_event(event)
        elif event.frame.from_runner:
            self._runner_frame(event.stream, event.frame, progress)
        elif event.frame.kind == "error":
            progress.error = event.frame.payload
        elif event.frame.kind == "input":
            self._ask(event.frame.payload)
        else:
            self.on_event(event.frame)

    @staticmethod
    def _runner_frame(stream: str, frame: protocol.Frame, progress: _Progress) -> None:
        if frame.kind == "limit":
            progress.reason = progress.reason or limit_reason(str(frame.payload.get("which", "")))
        elif frame.kind == "end" and stream == "stdout":
            progress.report = frame.payload
        elif frame.kind == "end":
            progress.stderr_done = True

    async def _outcome(self, progress: _Progress, elapsed: float) -> CellOutcome:
        container = self.container
        outcome = CellOutcome(
            reason=Reason.OK, error=progress.error, elapsed=elapsed, container_id=container.id,
            image_id=container.image_id, warm=container.warm, from_pool=container.from_pool,
            daemon=self.sandbox.daemon_identity(cached_only=True),
        )
        if progress.reason is not None:
            # the cell must end now: kill it before anything else (interrupt within 1 s)
            await self.sandbox._call(self.sandbox._remove_quietly, container.id)
            outcome.reason = progress.reason
            return outcome
        if progress.report is None:
            # the runner never reported: the container died (runner OOM-killed, PID 1 killed, ...)
            return await self._post_mortem(outcome, progress.eof)
        report = progress.report
        self.files = outcome.files = report.get("files")
        outcome.exit_code = report.get("exit_code")
        outcome.signal = report.get("signal")
        outcome.stderr_tail = bytes(self.stderr_tail).decode("utf-8", "replace")
        outcome.reason = reason_from_report(report)
        if outcome.reason is Reason.COMPILE:
            outcome.diagnostics = str(report.get("diagnostics") or "")
        return outcome

    def _ask(self, payload: dict) -> None:
        """Forward an input request to the user; the answer goes back on the runner's stdin."""
        if self.on_input is None or not self.request.stdin:
            return  # the runner already closed the answer pipe: the program saw EOF
        self.asking += 1
        asked_at = self.loop.time()

        async def ask():
            answer = None
            try:
                answer = await self.on_input(str(payload.get("prompt", "")), bool(payload.get("password")))
            except Exception as exc:  # a frontend that fails to answer is end-of-file
                log.warning("input request failed: %s", exc)
            finally:
                self.asking -= 1
                self.deadline += self.loop.time() - asked_at  # waiting for a human is not run time
            try:
                self.container.send(json.dumps({"input": answer}).encode() + b"\n")
            except OSError:
                pass
            self.queue.put_nowait(_Tick())

        self.ask_tasks.append(asyncio.ensure_future(ask()))

    def cancel_asks(self) -> None:
        """The cell is over: stop waiting for answers nobody will read."""
        for task in self.ask_tasks:
            task.cancel()

    async def _post_mortem(self, outcome: CellOutcome, eof: bool) -> CellOutcome:
        """Find out from the daemon why a container ended without the runner's report."""
        try:
            state = (await self.sandbox._call(self.sandbox.client.api.inspect_container, self.container.id))["State"]
        except Exception:
            outcome.reason = Reason.LOST
            return outcome
        outcome.reason, exit_code, signal = reason_from_state(state, eof)
        if exit_code is not None:
            outcome.exit_code = exit_code
        if signal is not None:
            outcome.signal = signal
        return outcome
