"""Kernels started through jupyter_client, their cells' results, and the usual assertions on them."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import docker
import pytest
from jupyter_client.manager import start_new_kernel

from dockerkernel.sandbox import LABEL_KERNEL


@dataclass
class CellResult:
    """What one execute_request produced."""

    reply: dict
    messages: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """ok or error."""
        return self.reply["content"]["status"]

    @property
    def ename(self) -> str | None:
        """The error name, if any."""
        return self.reply["content"].get("ename")

    def stream(self, name: str = "stdout") -> str:
        """All text of one stream."""
        return "".join(
            m["content"]["text"] for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == name
        )

    def of_type(self, msg_type: str) -> list:
        """The iopub messages of one type."""
        return [m for m in self.messages if m["msg_type"] == msg_type]


class KernelHandle:
    """A running kernel (manager + blocking client) with a convenient ``run``."""

    def __init__(self, kernel_name: str, extra_args: list[str] | None = None):
        """Start ``kernel_name`` (extra ``--DockerKernel.x=y`` arguments allowed)."""
        kwargs = {"extra_arguments": extra_args} if extra_args else {}
        self.km, self.kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=120, **kwargs)
        self.kernel_name = kernel_name

    def run(self, code: str, timeout: float = 120, stdin_hook=None, allow_stdin: bool = False) -> CellResult:
        """Execute ``code``; collect its iopub messages until idle."""
        messages: list = []
        reply = self.kc.execute_interactive(
            code, timeout=timeout, output_hook=messages.append, allow_stdin=allow_stdin or stdin_hook is not None,
            stdin_hook=stdin_hook,
        )
        return CellResult(reply, [m for m in messages if m["msg_type"] not in ("status", "execute_input")])

    def kernel_id(self) -> str:
        """The dockerkernel id of this kernel (read from the labels of its objects)."""
        pid = str(self.km.provisioner.process.pid)
        client = docker.from_env()
        for info in client.api.containers(all=True, filters={"label": [f"dockerkernel.pid={pid}"]}):
            return info["Labels"][LABEL_KERNEL]
        return ""

    def pid(self) -> int:
        """The kernel process id."""
        return self.km.provisioner.process.pid

    def shutdown(self) -> None:
        """Shut the kernel down the normal way."""
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


def assert_ok(result: CellResult, stdout: str | None = None) -> CellResult:
    """The cell succeeded, published no error, and (if given) printed exactly ``stdout``; the result."""
    assert result.status == "ok", (result.reply["content"], result.stream("stderr"))
    assert not result.of_type("error"), result.of_type("error")
    if stdout is not None:
        assert result.stream() == stdout, (result.stream(), result.stream("stderr"))
    return result


def assert_error(result: CellResult, ename: str) -> dict:
    """Exactly one error message, named ``ename``, matching the reply; the reply's content."""
    content = result.reply["content"]
    assert result.status == "error", (content, result.stream(), result.stream("stderr"))
    assert content["ename"] == ename, content
    assert [m["content"]["ename"] for m in result.of_type("error")] == [ename]
    return content


def iopub_until(kc, msg_id: str, reached: Callable[[dict], bool], timeout: float, failure: str) -> list:
    """Read iopub messages of request ``msg_id`` until one is ``reached``; all of them, in order.

    Fails the test with ``failure`` (and what was seen) after ``timeout`` seconds.
    """
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append(msg)
        if reached(msg):
            return seen
    pytest.fail(f"{failure}: {seen}")
