"""Input requests: a program in the cell asks (``input`` frame), the frontend answers (stdin channel).

``InputRelay`` is part of ``DockerKernel``. The answer is awaited in a worker thread, so the
event loop keeps relaying output and an interrupt still kills the cell; the wall-clock limit
is paused meanwhile (``sandbox.running``).
"""

from __future__ import annotations

import asyncio
import threading

import zmq

from .streams import StreamCoalescer


class InputRelay:
    """The stdin side of ``DockerKernel`` (uses ipykernel's ``stdin_socket``, ``session`` and parent)."""

    def _input_relay(self, coalescer: StreamCoalescer, answered: threading.Event):
        """The ``on_input`` callback of a cell: asks the frontend from a worker thread."""
        # the only use of ipykernel's private ident context (ipykernel 6.29/7.x): the
        # input_request must go to the frontend that sent the execute_request
        ident = self._get_shell_context_var(self._shell_parent_ident)
        parent = self.get_parent("shell")

        async def on_input(prompt: str, password: bool):
            coalescer.flush()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._ask_frontend, prompt, password, ident, parent, answered)

        return on_input

    def _ask_frontend(self, prompt: str, password: bool, ident, parent, cancelled: threading.Event):
        """Thread: send an input_request and wait for its reply (None on EOF or when the cell ends).

        Like ipykernel's ``_input_request``, but in a worker thread and cancellable, so the
        event loop keeps relaying output and an interrupt still kills the cell.
        """
        while True:  # drop stale replies
            try:
                self.stdin_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                break
        self.session.send(
            self.stdin_socket, "input_request", {"prompt": prompt, "password": password}, parent, ident=ident
        )
        while not cancelled.is_set():
            readable, _, failed = zmq.select([self.stdin_socket], [], [self.stdin_socket], 0.05)
            if readable or failed:
                _, reply = self.session.recv(self.stdin_socket)
                if reply is None:
                    continue
                value = reply.get("content", {}).get("value", "")
                return None if value == "\x04" else str(value)
        return None
