"""``StreamCoalescer``: many small writes of a cell become few Jupyter ``stream`` messages."""

from __future__ import annotations

import asyncio
import codecs

STREAMS = ("stdout", "stderr")


class StreamCoalescer:
    """Turns many small writes into few ``stream`` messages (one per interval per stream).

    Order between stdout and stderr is kept: text of one stream is flushed before text of
    the other is added. Bytes are decoded incrementally, so a UTF-8 character split across
    reads stays whole; invalid UTF-8 becomes U+FFFD and NUL becomes U+2400 (␀), which every
    notebook format and exporter can carry.

    ``hold`` (seconds) delays stderr longer than ``interval``: for languages whose exception
    is read from stderr (Java, Go, Rust), the traceback printed as the program dies is still
    pending when the cell ends, and ``take_held`` hands it to the error reply instead of
    publishing it twice. Pending stderr that ``keep`` accepts (it holds the start of a
    traceback) is not published by the timer at all: a dying JVM may take seconds to exit.
    Stdout output releases held stderr at once (order is kept), with one exception: stdout
    arriving within one ``hold`` of the start of a kept traceback is published before it and
    the traceback stays held. The daemon copies a container's stdout and stderr on separate
    goroutines, so ``println("before"); panic!()`` can reach us stderr first; the traceback is
    what a dying program writes last.
    """

    PARTIAL_WAITS = 2  # times an unfinished stderr line is held for one more ``hold`` period

    def __init__(self, send, interval: float = 0.05, hold: float | None = None, keep=None):
        """``send(name, text)`` publishes one stream message; ``interval`` and ``hold`` in seconds;
        ``keep(text) -> bool`` says whether pending stderr is a traceback to hold until the end."""
        self._send = send
        self.interval = interval
        self._keep = keep
        self._delay = {"stdout": interval, "stderr": max(hold or 0.0, interval)}
        self._decoders = {name: codecs.getincrementaldecoder("utf-8")("replace") for name in STREAMS}
        self._pending: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._timer: asyncio.TimerHandle | None = None
        self._partial_waits = 0
        self._stderr_since = 0.0  # loop time the pending stderr began
        self.messages = 0

    def add(self, name: str, data: bytes) -> None:
        """Queue program output of stream ``name``."""
        if name == "stdout" and self._fresh_traceback_pending():
            text = self._decoders[name].decode(data)
            if text:  # written before the traceback (see the class docstring)
                self._publish("stdout", text.replace("\x00", "\u2400"))
            return
        self._flush_other(name)  # even when the bytes only start a character: order is kept
        self.add_text(name, self._decoders[name].decode(data))

    def _fresh_traceback_pending(self) -> bool:
        pending = self._pending["stderr"]
        if self._keep is None or not pending:
            return False
        if asyncio.get_running_loop().time() - self._stderr_since > self._delay["stderr"]:
            return False
        return bool(self._keep("".join(pending)))

    def _flush_other(self, name: str) -> None:
        other = "stderr" if name == "stdout" else "stdout"
        if self._pending[other]:
            self._cancel_timer()
            self._flush_one(other)

    def add_text(self, name: str, text: str) -> None:
        """Queue already decoded text."""
        if not text:
            return
        if "\x00" in text:
            text = text.replace("\x00", "\u2400")
        self._flush_other(name)
        if name == "stderr" and not self._pending[name]:
            self._stderr_since = asyncio.get_running_loop().time()
        self._pending[name].append(text)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay[name], self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        pending = "".join(self._pending["stderr"])
        if self._keep is not None and pending:
            if self._keep(pending):
                return  # a traceback: the error reply takes it (take_held), or stdout releases it
            if not pending.endswith("\n") and self._partial_waits < self.PARTIAL_WAITS:
                # Rust and Go write a panic's first line in pieces ("thread '", "main", …): a
                # loaded machine can fire the timer between them, before keep() can know
                self._partial_waits += 1
                self._timer = asyncio.get_running_loop().call_later(self._delay["stderr"], self._on_timer)
                return
        self.flush()

    def _flush_one(self, name: str) -> None:
        parts = self._pending[name]
        if parts:
            self._pending[name] = []
            self._partial_waits = 0
            self._publish(name, "".join(parts))

    def _publish(self, name: str, text: str) -> None:
        self.messages += 1
        self._send(name, text)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def take_held(self) -> str:
        """The cell has ended: stdout is published, pending stderr is returned, not published."""
        self._cancel_timer()
        for name, decoder in self._decoders.items():
            rest = decoder.decode(b"", final=True)
            if rest:
                self._pending[name].append(rest.replace("\x00", "\u2400"))
        self._flush_one("stdout")
        held = "".join(self._pending["stderr"])
        self._pending["stderr"] = []
        return held

    def flush(self, final: bool = False) -> None:
        """Publish everything pending (``final``: also the decoders' leftovers)."""
        self._cancel_timer()
        if final:
            for name, decoder in self._decoders.items():
                self.add_text(name, decoder.decode(b"", final=True))  # flushes the other stream first
            self._cancel_timer()
        for name in STREAMS:  # at most one stream has pending text
            self._flush_one(name)
