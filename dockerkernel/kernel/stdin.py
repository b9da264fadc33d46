"""Input requests: a program in the cell asks (``input`` frame), the frontend answers (stdin channel).

``InputRelay`` is part of ``DockerKernel``. The answer is awaited in a worker thread, so the
event loop keeps relaying output and an interrupt still kills the cell; the wall-clock limit
is paused meanwhile (``sandbox.running``).
"""

from __future__ import annotations

import asyncio
import threading
import time

import zmq

from .streams import StreamCoalescer

# after the IOPub thread has sent the prompt, a moment for it to reach the frontend's socket
# before the input_request does (they travel on separate connections)
IOPUB_HEADSTART = 0.003


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
        # The program's prompt went out as a stream message just before (on_input flushed it),
        # through ipykernel's IOPub thread. Frontends show the output that has arrived when an
        # input_request comes (jupyter console reads iopub once, then blocks on the user), so
        # the request must not overtake it: wait until that thread has sent what it holds.
        iopub_thread = getattr(self, "iopub_thread", None)
        if iopub_thread is not None:
            sent = threading.Event()
            iopub_thread.schedule(sent.set)
            sent.wait(1.0)
            time.sleep(IOPUB_HEADSTART)
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
