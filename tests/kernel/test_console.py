"""``jupyter console`` on the Docker kernels, driven through a pty (pexpect).

``--simple-prompt`` keeps the pty output parseable (one line = one cell); the multi-line
cell needs the real prompt_toolkit interface, where Enter asks the kernel's ``is_complete``
whether to run the cell or continue it.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import psutil
import pytest

from dockerkernel.sandbox import LABEL_PID
from tests.support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("images")]

JUPYTER = str(Path(sys.executable).with_name("jupyter"))
# The prompt, with or without prompt_toolkit's colour codes around the number.
ANSI = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"
PROMPT = re.compile(rf"In \[{ANSI}\d+{ANSI}\]: ")
STARTUP = 120  # first start may build the workspace volume and warm the pool: no hang, not a speed bound


class Console:
    """One ``jupyter console --kernel NAME`` process in a pty."""

    def __init__(self, kernel: str, *, simple: bool = True):
        self.simple = simple
        args = ["console", "--kernel", kernel, "--no-confirm-exit"]
        if simple:
            args.append("--simple-prompt")
        env = dict(os.environ, TERM="xterm" if not simple else "dumb", PROMPT_TOOLKIT_NO_CPR="1")
        self.child = pexpect.spawn(JUPYTER, args, env=env, encoding="utf-8", codec_errors="replace",
                                   timeout=30, dimensions=(40, 200))
        self.transcript: list[str] = []
        self.child.logfile_read = _Collect(self.transcript)
        self.child.expect(PROMPT, timeout=STARTUP)
        self.kernel_pids = wait_until(self._kernel_pids, timeout=10)
        assert self.kernel_pids, "no kernel process under jupyter console"

    def _kernel_pids(self) -> list[str]:
        try:
            children = psutil.Process(self.child.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        pids = []
        for proc in children:
            try:
                if "dockerkernel" in " ".join(proc.cmdline()):
                    pids.append(str(proc.pid))
            except psutil.Error:
                pass
        return pids

    def run(self, line: str, expected: str, timeout: float = 60) -> str:
        """Type one line, wait for ``expected`` (a regex) and the next prompt; return the text between."""
        self.child.sendline(line)
        self.child.expect(expected, timeout=timeout)
        before = self.child.before + self.child.after
        self.child.expect(PROMPT, timeout=timeout)
        return before

    def text(self) -> str:
        """Everything the console printed so far."""
        return "".join(self.transcript)

    def exit_by_eof(self) -> int:
        """Ctrl-D at an empty prompt: the console shuts its kernel down and exits; its status."""
        self.child.sendeof()
        self.child.expect(pexpect.EOF, timeout=60)
        self.child.close()
        return self.child.exitstatus

    def kill(self) -> None:
        """Make sure the console is gone (after a failed test)."""
        if self.child.isalive():
            if not self.simple:
                self.child.sendcontrol("c")  # prompt_toolkit: drop a half-typed cell
                time.sleep(0.5)
            self.child.sendeof()
            try:
                self.child.expect(pexpect.EOF, timeout=20)
            except pexpect.TIMEOUT:
                self.child.terminate(force=True)
        self.child.close(force=True)


class _Collect:
    """A pexpect logfile that keeps what it reads."""

    def __init__(self, sink: list[str]):
        self.sink = sink

    def write(self, data: str) -> None:
        self.sink.append(data)

    def flush(self) -> None:
        pass


def objects_of(client, pids: list[str]) -> list:
    """Containers and volumes created by the given kernel processes."""
    found = []
    for pid in pids:
        label = f"{LABEL_PID}={pid}"
        found += client.api.containers(all=True, filters={"label": [label]})
        found += client.api.volumes(filters={"label": label}).get("Volumes") or []
    return found


@pytest.fixture
def console(docker_client):
    """Start consoles; afterwards they are gone, and whatever a failed test left is removed."""
    started: list[Console] = []

    def start(kernel: str = "docker-python", **kwargs) -> Console:
        con = Console(kernel, **kwargs)
        started.append(con)
        return con

    yield start
    for con in started:
        con.kill()
        # only after a failure can something remain; do not let it leak into other tests
        for obj in objects_of(docker_client, con.kernel_pids):
            try:
                if "Id" in obj:
                    docker_client.api.remove_container(obj["Id"], force=True, v=True)
                else:
                    docker_client.api.remove_volume(obj["Name"], force=True)
            except Exception:  # noqa: BLE001
                pass


def assert_nothing_left(client, con: Console) -> None:
    """The console's kernel removed its containers and volume (poll: removal is asynchronous)."""
    assert wait_until(lambda: not objects_of(client, con.kernel_pids), timeout=20), objects_of(client, con.kernel_pids)


def test_python_session(console, docker_client):
    """print, workspace across cells, Ctrl-C on a long sleep, the next cell, Ctrl-D; nothing remains."""
    con = console("docker-python")
    assert "every cell runs in a fresh container" in con.text()
    con.run('print("hi")', r"\nhi\r\n")
    con.run('open("f", "w").write("x")', r"Out\[\d+\]: 1\r\n")
    con.run('print(open("f").read())', r"\nx\r\n")

    con.child.sendline("import time; time.sleep(100)")
    con.child.expect(r"time\.sleep\(100\)\r\n")
    time.sleep(1)  # let the cell reach its container
    con.child.sendintr()
    con.child.expect("KeyboardInterrupt", timeout=10)
    con.child.expect(PROMPT, timeout=10)

    con.run("print(1+1)", r"\n2\r\n")
    assert con.exit_by_eof() == 0
    assert_nothing_left(docker_client, con)


def test_python_multiline_cell(console, docker_client):
    """The real prompt: a block typed over several lines runs when Enter is pressed on an empty line."""
    con = console("docker-python", simple=False)
    settle = 0.5  # prompt_toolkit drops keys typed before its prompt is up: pacing, not a bound
    time.sleep(settle)
    con.child.send("for i in range(3):\r")
    con.child.expect(r"\.\.\.: ")  # continuation prompt: the kernel said "incomplete"
    con.child.send("    print(i*10)\r")
    con.child.expect(r"\.\.\.: ")
    con.child.send("\r")  # Enter on the (auto-indented) empty line ends the block
    con.child.expect(r"0\r\n10\r\n20\r\n", timeout=15)
    con.child.expect(PROMPT, timeout=15)
    time.sleep(settle)
    con.child.send('print("hi")\r')
    con.child.expect(r"hi\r\n", timeout=15)
    con.child.expect(PROMPT, timeout=15)
    time.sleep(settle)
    assert con.exit_by_eof() == 0
    assert_nothing_left(docker_client, con)


def test_exit_command_leaves_console(console, docker_client):
    """Typing ``exit`` ends jupyter console, as with every IPython-based kernel (ask_exit payload)."""
    con = console("docker-python")
    con.run('print("hi")', r"\nhi\r\n")
    con.child.sendline("exit")
    index = con.child.expect([pexpect.EOF, PROMPT], timeout=30)
    assert index == 0, f"console still running after `exit`; it printed: {con.child.before[-300:]!r}"
    con.child.close()
    assert_nothing_left(docker_client, con)


def test_bash_session(console, docker_client):
    """docker-bash: hello, Ctrl-C on sleep 100, next cell, Ctrl-D; nothing remains."""
    con = console("docker-bash")
    con.run('echo "hello, world"', r"\nhello, world\r\n")
    con.child.sendline("sleep 100")
    con.child.expect(r"sleep 100\r\n")
    time.sleep(1)
    con.child.sendintr()
    con.child.expect("KeyboardInterrupt", timeout=10)
    con.child.expect(PROMPT, timeout=10)
    con.run("echo $((6*7))", r"\n42\r\n")
    assert con.exit_by_eof() == 0
    assert_nothing_left(docker_client, con)


# A program that reads stdin, typed into jupyter console as one line: the console shows the
# program's prompt, reads the user's answer and the program gets it as its next line.
CONSOLE_READS = {
    "docker-c": ('int n; printf("n? "); scanf("%d", &n); printf("twice: %d\\n", n * 2);', "21", "twice: 42"),
    "docker-java": ('var sc = new java.util.Scanner(System.in); System.out.print("n? "); '
                    'System.out.println("twice: " + sc.nextInt() * 2);', "21", "twice: 42"),
    "docker-ruby": ('print "n? "; n = gets.to_i; puts "twice: #{n * 2}"', "21", "twice: 42"),
}


@pytest.mark.parametrize("kernel", sorted(CONSOLE_READS))
def test_a_program_reading_stdin_asks_in_the_console(console, docker_client, kernel):
    code, answer, expected = CONSOLE_READS[kernel]
    con = console(kernel)
    con.child.sendline(code)
    con.child.expect(r"\r\nn\? ", timeout=60)  # the program's own prompt (not the echoed code), then a wait
    con.child.sendline(answer)
    con.child.expect(expected, timeout=60)
    con.child.expect(PROMPT, timeout=60)
    # Ctrl-C while the program waits for its answer interrupts the cell; the next one runs
    con.child.sendline(code)
    con.child.expect(r"\r\nn\? ", timeout=60)
    time.sleep(0.5)
    con.child.sendintr()
    con.child.expect("KeyboardInterrupt", timeout=60)
    con.child.expect(PROMPT, timeout=60)
    con.child.sendline(code.replace('"n? "', '"again? "'))
    con.child.expect(r"\r\nagain\? ", timeout=60)
    con.child.sendline("5")
    con.child.expect("twice: 10", timeout=60)
    con.child.expect(PROMPT, timeout=60)
    assert con.exit_by_eof() == 0
    assert_nothing_left(docker_client, con)
