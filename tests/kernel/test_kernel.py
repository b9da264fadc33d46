"""The kernel through jupyter_client, against the real Docker daemon."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from dockerkernel.languages import IMAGE_PREFIX
from tests.support import assert_error, assert_ok, our_objects, wait_until
from tests.support.kernels import iopub_until

pytestmark = [pytest.mark.docker, pytest.mark.images("python", "javascript", "bash")]

MiB = 1 << 20


@pytest.fixture(scope="module")
def kernel(py):
    return py


def shell_reply(kc, msg_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def kernel_id_of(handle) -> str:
    kid = wait_until(handle.kernel_id, timeout=30)
    assert kid, "the kernel has no labelled objects"
    return kid


# ---- output -------------------------------------------------------------------------------------


def test_print_is_a_stream(kernel):
    result = kernel.run('import sys\nprint("hi")\nprint("oops", file=sys.stderr)')
    assert_ok(result, "hi\n")
    assert result.stream("stderr") == "oops\n"


def test_last_expression_is_an_execute_result(kernel):
    result = kernel.run("x = 1\nx + 1")
    assert_ok(result, "")
    results = result.of_type("execute_result")
    assert len(results) == 1
    assert results[0]["content"]["data"]["text/plain"] == "2"
    assert results[0]["content"]["execution_count"] == result.reply["content"]["execution_count"]


def test_many_lines_become_few_messages(kernel):
    result = kernel.run("for i in range(20000):\n    print(i)")
    assert_ok(result)
    assert result.stream() == "".join(f"{i}\n" for i in range(20000))
    assert len(result.of_type("stream")) < 200


def test_binary_output_does_not_break_the_kernel(kernel):
    result = kernel.run("import sys\nsys.stdout.buffer.write(b'a\\xffb\\x00c\\n')")
    assert_ok(result, "a\ufffdb\u2400c\n")


# ---- errors ---------------------------------------------------------------------------------------


def test_python_exception(kernel):
    content = assert_error(kernel.run("print('before')\n1/0"), "ZeroDivisionError")
    assert "division by zero" in content["evalue"]
    assert_ok(kernel.run("print('next')"), "next\n")


def test_cell_timeout(kernel):
    try:
        result = kernel.run("%timeout 2\nimport time\nprint('started', flush=True)\ntime.sleep(30)")
        assert_error(result, "CellTimeout")
        assert result.stream() == "started\n"
    finally:
        assert_ok(kernel.run("%timeout 30"))
    assert_ok(kernel.run("print('next')"), "next\n")


def test_output_limit(kernel):
    result = kernel.run("while True:\n    print('x' * 99)")
    assert_error(result, "OutputLimitExceeded")
    stdout = result.stream()
    assert 512 * 1024 <= len(stdout.encode()) <= MiB
    assert set(stdout) <= {"x", "\n"}
    assert "output limit" in result.stream("stderr")
    assert_ok(kernel.run("print('next')"), "next\n")


def test_fork_bomb(kernel):
    result = kernel.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    content = assert_error(result, "PidsLimitExceeded")
    assert "256" in content["evalue"]
    assert_ok(kernel.run("print('next')"), "next\n")


def test_out_of_memory(kernel):
    try:
        result = kernel.run("%memory 64m\na = []\nwhile True:\n    a.append(b'x' * (1 << 20))")
        assert_error(result, "OutOfMemory")
    finally:
        assert_ok(kernel.run("%memory 512m"))
    assert_ok(kernel.run("print('next')"), "next\n")


def test_unknown_magic(kernel):
    content = assert_error(kernel.run("%nosuchmagic\nprint('not run')"), "UsageError")
    assert "nosuchmagic" in content["evalue"]
    assert_ok(kernel.run("print('next')"), "next\n")


# (%env is IPython's own in Python cells: tests/kernel/test_ipython.py)
@pytest.mark.parametrize("magic", ["%timeout abc", "%memory lots", "%timeout -1", "%cpus -1", "%pids 0", "%memory 0"])
def test_bad_magic_arguments(kernel, magic):
    try:
        assert_error(kernel.run(magic), "UsageError")
        # a rejected value must not be applied
        assert_ok(kernel.run("print('next')"), "next\n")
    finally:
        kernel.run("%timeout 30\n%memory 512m\n%cpus 1\n%pids 256")


def test_nul_byte_in_source(kernel):
    result = kernel.run('print("a\x00b")')
    assert result.status == "error"
    assert len(result.of_type("error")) == 1
    assert "NUL" in result.reply["content"]["evalue"]
    assert_ok(kernel.run("print('alive')"), "alive\n")


def test_one_mib_source(kernel):
    result = kernel.run("# " + "a" * MiB + "\nprint('big')")
    assert_ok(result, "big\n")


# ---- empty cells -------------------------------------------------------------------------------------


def test_empty_cell_creates_no_container(kernel, docker_client):
    kid = kernel_id_of(kernel)

    def settled():
        first = {c["Id"] for c in our_objects(docker_client, kid)[0]}
        time.sleep(1.0)
        second = {c["Id"] for c in our_objects(docker_client, kid)[0]}
        return first if first == second else None

    before = wait_until(settled, timeout=60)
    assert before
    for code in ["", "   \n\n", "\n"]:
        result = kernel.run(code)
        assert_ok(result)
        assert not result.of_type("stream")
        assert "dockerkernel" not in result.reply["metadata"]
    after = {c["Id"] for c in our_objects(docker_client, kid)[0]}
    assert after == before


def test_magic_only_cell_creates_no_container(kernel, docker_client):
    kid = kernel_id_of(kernel)
    wait_until(lambda: len(our_objects(docker_client, kid)[0]) >= 3, timeout=30)
    before = {c["Id"] for c in our_objects(docker_client, kid)[0]}
    result = kernel.run("%timeout 30")
    assert_ok(result)
    after = {c["Id"] for c in our_objects(docker_client, kid)[0]}
    assert after <= before


# ---- magics -----------------------------------------------------------------------------------------


def test_file_magic_then_read(kernel):
    result = kernel.run("%%file data.txt\nhello file\nline 2")
    assert_ok(result)
    assert "data.txt" in result.stream()
    # IPython's %%file (= %%writefile) writes the cell with its final newline
    assert_ok(kernel.run("print(open('data.txt').read())"), "hello file\nline 2\n\n")


def test_file_magic_outside_the_workspace_is_refused(kernel):
    result = kernel.run("%%file ../escape.txt\nnope")
    assert result.status == "error"
    assert len(result.of_type("error")) == 1
    assert_ok(kernel.run("import os\nprint(os.path.exists('/escape.txt'))"), "False\n")


def test_env_magic(kernel):
    assert_ok(kernel.run("%env GREETING=hello there"))
    assert_ok(kernel.run("import os\nprint(os.environ['GREETING'])"), "hello there\n")
    listing = kernel.run("%env")  # IPython's: the environment as a dict (execute_result)
    assert_ok(listing)
    assert "'GREETING': 'hello there'" in listing.of_type("execute_result")[0]["content"]["data"]["text/plain"]


def test_limits_magic(kernel):
    result = kernel.run("%limits")
    assert_ok(result)
    text = result.stream()
    needles = ["timeout", "30 s", "memory", "512 MiB", "pids", "256", "output", "1 MiB", "network", "none"]
    for needle in [*needles, f"{IMAGE_PREFIX}python"]:
        assert needle in text, (needle, text)


def test_network_on_is_refused(kernel):
    result = kernel.run("%network on")
    assert result.status == "error"
    assert len(result.of_type("error")) == 1
    assert "allow_network" in result.reply["content"]["evalue"]
    check = kernel.run("print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))")
    assert_ok(check, "['lo']\n")


def test_reply_metadata(kernel):
    result = kernel.run("print(1)")
    assert_ok(result)
    meta = result.reply["metadata"]["dockerkernel"]
    assert meta["image_id"].startswith("sha256:")
    assert meta["image"] == f"{IMAGE_PREFIX}python:latest"
    assert meta["limits"]["memory"] == 512 * MiB
    assert meta["limits"]["timeout"] == 30
    assert meta["limits"]["network"] == "none"
    assert meta["outcome"] == "ok"
    assert isinstance(meta["wall_time"], float) and meta["wall_time"] >= 0
    failed = kernel.run("import sys\nsys.exit(3)")
    assert failed.status == "error"
    assert failed.reply["metadata"]["dockerkernel"]["outcome"] == "exit"
    assert failed.reply["metadata"]["dockerkernel"]["exit_code"] == 3


# ---- kernel_info, is_complete, complete ----------------------------------------------------------------


@pytest.fixture(params=["python", "javascript", "bash"])
def any_kernel(request, kernel, js, bash):
    return request.param, {"python": kernel, "javascript": js, "bash": bash}[request.param]


LANGUAGE_INFO = {
    "python": (".py", "text/x-python"),
    "javascript": (".js", "application/javascript"),
    "bash": (".sh", "text/x-sh"),
}


def test_kernel_info(any_kernel):
    lang, handle = any_kernel
    msg_id = handle.kc.kernel_info()
    reply = shell_reply(handle.kc, msg_id)
    info = reply["content"]["language_info"]
    extension, mimetype = LANGUAGE_INFO[lang]
    assert info["name"] == lang
    assert re.match(r"^\d+\.\d+", info["version"]), info
    assert info["file_extension"] == extension
    assert info["mimetype"] == mimetype
    assert reply["content"]["implementation"] == "dockerkernel"


HELLO = {
    "python": ("print('hello')", "hello\n"),
    "javascript": ("console.log('hello')", "hello\n"),
    "bash": ("echo hello", "hello\n"),
}


def test_hello_in_each_kernel(any_kernel):
    lang, handle = any_kernel
    code, out = HELLO[lang]
    assert_ok(handle.run(code), out)


def test_javascript_error_name(js):
    assert_error(js.run("null.x"), "TypeError")
    assert_ok(js.run("console.log('next')"), "next\n")


def test_bash_exit_code_and_signal(bash):
    content = assert_error(bash.run("echo hi; exit 3"), "ExitCode")
    assert "3" in content["evalue"]
    assert_error(bash.run("kill -SEGV $$"), "SIGSEGV")
    assert_ok(bash.run("echo next"), "next\n")


IS_COMPLETE = {
    "python": [("print(1)", "complete"), ("for i in range(3):", "incomplete"), ("def f(:", "invalid")],
    "javascript": [("console.log(1)", "complete"), ("function f() {", "incomplete"), ("}", "invalid")],
    "bash": [("echo hi", "complete"), ("if true; then", "incomplete"), ("fi", "invalid")],
}


def test_is_complete(any_kernel):
    lang, handle = any_kernel
    for code, status in IS_COMPLETE[lang]:
        msg_id = handle.kc.is_complete(code)
        reply = shell_reply(handle.kc, msg_id)
        assert reply["content"]["status"] == status, (code, reply["content"])
        if status == "incomplete":
            assert "indent" in reply["content"]


def complete(handle, code, cursor_pos=None):
    msg_id = handle.kc.complete(code, cursor_pos)
    return shell_reply(handle.kc, msg_id)["content"]


def test_complete_keywords_and_magics(kernel):
    reply = complete(kernel, "impo")
    assert "import" in reply["matches"]
    assert reply["cursor_start"] == 0 and reply["cursor_end"] == 4
    reply = complete(kernel, "%ti")
    assert "%timeout" in reply["matches"]
    assert reply["cursor_start"] == 0
    reply = complete(kernel, "x = pri")
    assert "print" in reply["matches"]
    assert reply["cursor_start"] == 4


def test_complete_offers_workspace_files(kernel):
    assert_ok(kernel.run("open('zebra_notes.txt', 'w').write('z')"))
    reply = complete(kernel, "open('zeb")
    assert "zebra_notes.txt" in reply["matches"]
    assert reply["cursor_start"] == len("open('")


def test_complete_in_bash_and_javascript(bash, js):
    assert "echo" in complete(bash, "ech")["matches"]
    assert "function" in complete(js, "funct")["matches"]


# ---- interrupt ------------------------------------------------------------------------------------------


def wait_for_output(kc, msg_id, needle, timeout=60):
    """Read iopub until a stream message of ``msg_id`` contains ``needle`` (None: until execute_input)."""

    def reached(msg) -> bool:
        if needle is None:
            return msg["msg_type"] == "execute_input"
        return msg["msg_type"] == "stream" and needle in msg["content"]["text"]

    return iopub_until(kc, msg_id, reached, timeout, f"no {needle!r} on iopub")


def collect_until_idle(kc, msg_id, timeout=10):
    """Read iopub until the kernel is idle after ``msg_id``; all its messages."""

    def idle(msg) -> bool:
        return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"

    return iopub_until(kc, msg_id, idle, timeout, "the kernel did not become idle")


def test_interrupt(kernel):
    kc, km = kernel.kc, kernel.km
    msg_id = kc.execute("import time\nprint('started', flush=True)\ntime.sleep(100)")
    wait_for_output(kc, msg_id, "started")
    time.sleep(1)
    interrupted = time.monotonic()
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=10)  # a hang would be 100 s
    assert time.monotonic() - interrupted < 10
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    errors = [m for m in collect_until_idle(kc, msg_id) if m["msg_type"] == "error"]
    assert len(errors) == 1
    assert km.is_alive()
    assert_ok(kernel.run("print('next')"), "next\n")


def test_interrupt_while_the_container_starts(kernels):
    # no pool: the interrupt arrives while the cell's container is still being created
    handle = kernels("docker-python", "--DockerKernel.pool_size=0")
    assert_ok(handle.run("print('warm')"), "warm\n")
    kc, km = handle.kc, handle.km
    msg_id = kc.execute("import time\ntime.sleep(100)")
    wait_for_output(kc, msg_id, None)  # execute_input: the request is being handled
    km.interrupt_kernel()
    reply = shell_reply(kc, msg_id, timeout=10)
    assert reply["content"]["ename"] == "KeyboardInterrupt"


# ---- configuration from argv -----------------------------------------------------------------------------


def test_timeout_from_argv(kernels):
    handle = kernels("docker-python", "--DockerKernel.timeout=2")
    assert_error(handle.run("import time\ntime.sleep(5)"), "CellTimeout")
    assert_ok(handle.run("print('next')"), "next\n")


def test_pool_size_zero(kernels, docker_client):
    handle = kernels("docker-python", "--DockerKernel.pool_size=0")
    assert_ok(handle.run("print('cold')"), "cold\n")
    kid = kernel_id_of(handle)

    def running_cells():
        return [
            c for c in our_objects(docker_client, kid)[0]
            if c["Labels"].get("dockerkernel.role") == "cell" and c["State"] == "running"
        ]

    assert wait_until(lambda: not running_cells(), timeout=15)  # nothing pre-started
    time.sleep(1)
    assert not running_cells()
    assert_ok(handle.run("print('again')"), "again\n")


def test_file_magic_as_the_first_cell(kernels):
    handle = kernels("docker-python", "--DockerKernel.pool_size=0")
    result = handle.run("%%file first.txt\nwritten first")
    assert_ok(result)
    assert_ok(handle.run("print(open('first.txt').read())"), "written first\n\n")  # IPython's %%file


# ---- lifecycle: shutdown, SIGKILL, restart ------------------------------------------------------------------


def test_shutdown_leaves_nothing(kernels, docker_client):
    handle = kernels("docker-python")
    assert_ok(handle.run("open('f', 'w').write('x')"))
    kid = kernel_id_of(handle)
    containers, volumes = our_objects(docker_client, kid)
    assert containers and volumes
    handle.shutdown()
    assert our_objects(docker_client, kid) == ([], [])


def sigkill(handle):
    pid = handle.pid()
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not handle.km.is_alive(), timeout=20)
    return pid


def test_sigkill_then_gc_leaves_nothing(kernels, docker_client, capsys):
    from dockerkernel.cli import main as cli_main

    # without its watchdog, which would otherwise race the check below (it removes a dead
    # kernel's objects within ~0.5 s; it won once in CI): gc is for what no watchdog removed
    handle = kernels("docker-python", "--DockerKernel.watchdog=False")
    kid = kernel_id_of(handle)
    msg_id = handle.kc.execute("import time\nprint('go', flush=True)\ntime.sleep(100)")
    wait_for_output(handle.kc, msg_id, "go")
    sigkill(handle)
    assert our_objects(docker_client, kid) != ([], [])  # SIGKILL leaves them behind
    assert cli_main(["gc"]) == 0
    assert "removed" in capsys.readouterr().out
    assert our_objects(docker_client, kid) == ([], [])


def test_new_kernel_sweeps_a_killed_kernels_leftovers(kernels, docker_client):
    victim = kernels("docker-bash", "--DockerKernel.watchdog=False")  # as above: no race with it
    assert_ok(victim.run("echo x > f; echo x"), "x\n")
    kid = kernel_id_of(victim)
    sigkill(victim)
    assert our_objects(docker_client, kid) != ([], [])
    fresh = kernels("docker-bash")
    assert_ok(fresh.run("echo fresh"), "fresh\n")
    assert wait_until(lambda: our_objects(docker_client, kid) == ([], []), timeout=30)


def test_restart_gives_an_empty_workspace(kernels, docker_client):
    handle = kernels("docker-python")
    assert_ok(handle.run("open('before_restart.txt', 'w').write('x')\nprint('written')"), "written\n")
    old_kid = kernel_id_of(handle)
    handle.km.restart_kernel(now=False)
    handle.kc.wait_for_ready(timeout=120)
    result = handle.run("import os\nprint(os.path.exists('before_restart.txt'), sorted(os.listdir('.')))")
    assert_ok(result)
    assert result.stream().startswith("False")
    assert wait_until(lambda: our_objects(docker_client, old_kid) == ([], []), timeout=30)
