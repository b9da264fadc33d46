"""Python state across fresh containers, interactive input, magics and provenance.

Everything goes through jupyter_client against the real daemon: every cell below runs in a
new container, so what carries over from one cell to the next does so through the kernel's
state mechanism and the per-kernel ``/workspace``.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest

from dockerkernel.languages import IMAGE_PREFIX
from tests.support import ROOT, KernelHandle, assert_error, assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

MiB = 1 << 20


class Answers:
    """A stdin_hook: answers each input_request from a list and records the requests."""

    def __init__(self, handle: KernelHandle, *answers: str, delay: float = 0.0):
        self.handle = handle
        self.answers = list(answers)
        self.delay = delay
        self.requests: list[dict] = []

    def __call__(self, msg) -> None:
        self.requests.append(msg["content"])
        if self.delay:
            time.sleep(self.delay)
        # an unexpected request gets an empty answer (the test checks ``requests``), never a hang
        self.handle.kc.input(self.answers.pop(0) if self.answers else "")


# ---- state -------------------------------------------------------------------------------------------


def test_variable_carries_to_the_next_container(py):
    assert_ok(py.run("x = 41"))
    assert_ok(py.run("print(x + 1)"), "42\n")


def test_functions_and_classes_carry_and_see_the_current_globals(py):
    assert_ok(py.run(
        "G = 1\n"
        "def f():\n    return G * 10\n"
        "class K:\n    def __init__(self, n): self.n = n\n    def v(self): return f'kv{self.n}'\n"
        "k = K(3)"
    ))
    assert_ok(py.run("print(f(), K(1).v(), k.v())\nG = 2"), "10 kv1 kv3\n")
    # the function reads the global of the cell it runs in, not a copy taken when it was saved
    assert_ok(py.run("print(f())"), "20\n")
    assert_ok(py.run("del G, f, K, k"))  # the following tests start without cell-defined code


# A fresh kernel each: what else is in the namespace (e.g. a function defined in an earlier
# cell) changes how the state is saved, and must not hide a module that is not carried.


def test_numpy_import_carries(kernels):
    handle = kernels("docker-python")
    assert_ok(handle.run("import numpy as np"))
    result = handle.run("np.arange(3).sum()")
    assert_ok(result)
    (msg,) = result.of_type("execute_result")
    assert msg["content"]["data"]["text/plain"] == "3"


def test_stdlib_module_carries_without_a_notice(kernels):
    """README: modules come back by re-import. They are not "cannot be pickled"."""
    handle = kernels("docker-python")
    first = handle.run("import json\nimport os.path as osp\ncount = 1")
    assert_ok(first)
    assert "json" not in first.stream("stderr"), first.stream("stderr")
    assert_ok(handle.run("print(json.dumps([count]), osp.basename('/a/b'))"), "[1] b\n")


def test_unpicklable_objects_are_named_once_and_the_rest_survives(py):
    first = py.run(
        "import socket\n"
        "sock = socket.socket()\n"
        "gen = (i for i in range(3))\n"
        "keep = 'kept'\n"
        "numbers = [1, 2]"
    )
    assert_ok(first)
    notice = first.stream("stderr")
    assert "not carried over" in notice, notice
    assert notice.count("sock:") == 1 and notice.count("gen:") == 1, notice
    second = py.run("print(keep, numbers, 'sock' in globals(), 'gen' in globals())")
    assert_ok(second, "kept [1, 2] False False\n")
    # named once: not again in the following cells
    assert "sock:" not in second.stream("stderr") and "gen:" not in second.stream("stderr"), second.stream("stderr")
    assert_ok(py.run("del keep, numbers"))


def test_state_off_stops_carrying(py):
    try:
        off = py.run("%state off")
        assert_ok(off)
        assert "not" in off.stream()
        assert_ok(py.run("v_off = 1\nprint(v_off)"), "1\n")
        assert_ok(py.run("print('v_off' in globals())"), "False\n")
    finally:
        assert_ok(py.run("%state on"))
    assert_ok(py.run("v_on = 2"))
    assert_ok(py.run("print(v_on)"), "2\n")


def test_file_written_with_open_stays_intact_over_cells(py):
    assert_ok(py.run("with open('table.bin', 'wb') as fh:\n    fh.write(bytes(range(256)))"))
    check = "print(open('table.bin', 'rb').read() == bytes(range(256)))"
    assert_ok(py.run(check), "True\n")
    assert_ok(py.run(check), "True\n")  # still intact after a second restore


def test_restart_clears_state(kernels):
    handle = kernels("docker-python")
    assert_ok(handle.run("z = 7"))
    assert_ok(handle.run("print(z)"), "7\n")
    handle.km.restart_kernel(now=False)
    handle.kc.stop_channels()
    handle.kc = handle.km.client()
    handle.kc.start_channels()
    handle.kc.wait_for_ready(timeout=120)
    assert_ok(handle.run("print('z' in globals())"), "False\n")


# ---- input ---------------------------------------------------------------------------------------------


def test_input_becomes_an_input_request(py):
    answers = Answers(py, "Ada")
    result = py.run('name = input("name? ")\nprint(f"hello {name}")', stdin_hook=answers)
    assert_ok(result, "hello Ada\n")
    assert answers.requests == [{"prompt": "name? ", "password": False}]


def test_getpass_asks_for_a_password(py):
    answers = Answers(py, "hunter2")
    result = py.run("import getpass\nsecret = getpass.getpass()\nprint(len(secret))", stdin_hook=answers)
    assert_ok(result, "7\n")
    assert len(answers.requests) == 1 and answers.requests[0]["password"] is True
    assert "hunter2" not in result.stream()


def test_bash_input_helper_is_answered(bash):
    answers = Answers(bash, "teal")
    result = bash.run('x=$(input "q? ")\necho "got $x"', stdin_hook=answers)
    assert_ok(result, "got teal\n")
    assert answers.requests == [{"prompt": "q? ", "password": False}]


def test_without_stdin_input_raises_eoferror_at_once(py):
    started = time.monotonic()
    result = py.run('input("name? ")', timeout=30)  # a hang would be the 30 s cell limit
    content = assert_error(result, "EOFError")
    assert time.monotonic() - started < 25  # no-hang bound, below the 30 s limit
    assert "input" in content["evalue"], content
    assert result.reply["metadata"]["dockerkernel"]["outcome"] == "exit"


def test_without_stdin_bash_input_exits_nonzero(bash):
    result = bash.run('input "q? "', timeout=30)
    content = assert_error(result, "ExitCode")
    assert "1" in content["evalue"]
    assert "no answer" in result.stream("stderr")
    assert_ok(bash.run('x=$(input "q? ") || echo "status $?"'), "status 1\n")


@pytest.mark.slow
def test_waiting_for_the_user_is_not_run_time(py):
    answers = Answers(py, "late answer", delay=5)
    try:
        result = py.run('%timeout 3\nprint(input("q? "))', stdin_hook=answers, timeout=60)
        assert_ok(result, "late answer\n")
    finally:
        assert_ok(py.run("%timeout 30"))


def test_input_notebook_with_a_client_that_answers(kernels):
    nb = nbformat.read(Path(ROOT) / "examples" / "input.ipynb", as_version=4)
    handle = kernels(nb.metadata.kernelspec.name)
    replies = {"What is your name? ": "Ada", "A secret (not echoed): ": "hunter2", "Favourite colour? ": "teal"}
    asked: list[dict] = []

    def answer(msg):
        asked.append(msg["content"])
        handle.kc.input(replies.get(msg["content"]["prompt"], ""))

    stdout = ""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        result = handle.run(cell.source, stdin_hook=answer)
        assert_ok(result)
        stdout += result.stream()
    assert [a["prompt"] for a in asked] == list(replies)
    assert [a["password"] for a in asked] == [False, True, False]
    for text in ("Hello, Ada!", "the secret has 7 characters", "You like teal"):
        assert text in stdout, stdout
    assert "hunter2" not in stdout


# ---- magics ----------------------------------------------------------------------------------------------


# What the cell reads back from its own cgroup (v1 paths, else the v2 equivalents).
READ_CPU = (
    "import os\n"
    "if os.path.exists('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'):\n"
    "    print(open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read().strip(),"
    " open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read().strip())\n"
    "else:\n"
    "    print(open('/sys/fs/cgroup/cpu.max').read().strip())\n"
)
READ_MEMORY = (
    "import os\n"
    "v1 = '/sys/fs/cgroup/memory/'\n"
    "if os.path.exists(v1 + 'memory.limit_in_bytes'):\n"
    "    memory = int(open(v1 + 'memory.limit_in_bytes').read())\n"
    "    # memory + swap; the file is missing when the host does not account swap\n"
    "    swap = int(open(v1 + 'memory.memsw.limit_in_bytes').read()) - memory"
    " if os.path.exists(v1 + 'memory.memsw.limit_in_bytes') else 'not accounted'\n"
    "else:\n"
    "    memory = int(open('/sys/fs/cgroup/memory.max').read())\n"
    "    swap = int(open('/sys/fs/cgroup/memory.swap.max').read())\n"
    "print(memory, swap)\n"
)


def test_cpus_magic_sets_the_cfs_quota(py):
    try:
        result = py.run("%cpus 0.5\n" + READ_CPU)
        assert_ok(result, "50000 100000\n")
        assert result.reply["metadata"]["dockerkernel"]["limits"]["cpus"] == 0.5
    finally:
        assert_ok(py.run("%cpus 1"))
    assert_ok(py.run(READ_CPU), "100000 100000\n")


def test_memory_magic_sets_the_cgroup_limit(py):
    try:
        result = py.run("%memory 256m\n" + READ_MEMORY)
        assert_ok(result)
        memory, swap = result.stream().split(" ", 1)
        assert memory == "268435456"
        assert swap in ("0\n", "not accounted\n"), swap  # and no swap beyond it
        assert result.reply["metadata"]["dockerkernel"]["limits"]["memory"] == 256 * MiB
    finally:
        assert_ok(py.run("%memory 512m"))
    assert py.run(READ_MEMORY).stream().split(" ")[0] == str(512 * MiB)


def test_env_magic_reaches_python_and_bash_cells(py):
    assert_ok(py.run("%env DK_TEST_A=1"))
    assert_ok(py.run("import os\nprint(os.environ['DK_TEST_A'])"), "1\n")
    assert_ok(py.run("%%bash\necho \"A=$DK_TEST_A\""), "A=1\n")


def test_file_magic_writes_the_workspace(py):
    # Python cells: IPython's %%file (= %%writefile): it needs the folder, adds the final newline
    assert_ok(py.run("import os\nos.makedirs('notes', exist_ok=True)"))
    written = py.run("%%file notes/today.txt\nline one\nünïcode line two")
    assert_ok(written)
    assert "notes/today.txt" in written.stream()
    assert_ok(py.run("print(repr(open('notes/today.txt', encoding='utf-8').read()))"), "'line one\\nünïcode line two\\n'\n")
    assert_ok(py.run("%%bash\nwc -l < notes/today.txt"), "2\n")


def test_limits_magic_shows_what_applies_to_the_next_cell(py):
    try:
        assert_ok(py.run("%timeout 7\n%memory 300m"))
        result = py.run("%limits")
        assert_ok(result)
        text = result.stream()
        assert "timeout" in text and "7 s" in text, text
        assert "memory" in text and "300 MiB" in text, text
        ran = py.run("print('x')")
        assert ran.reply["metadata"]["dockerkernel"]["limits"]["timeout"] == 7
        assert ran.reply["metadata"]["dockerkernel"]["limits"]["memory"] == 300 * MiB
    finally:
        assert_ok(py.run("%timeout 30\n%memory 512m"))


def test_network_magic_refused_by_default_and_allowed_by_config(py, kernels):
    refused = assert_error(py.run("%network on"), "UsageError")
    assert "allow_network" in refused["evalue"], refused
    handle = kernels("docker-python", "--DockerKernel.allow_network=True")
    code = "import os\nprint(sorted(os.listdir('/sys/class/net')))"
    assert_ok(handle.run(code), "['lo']\n")  # allowed, but still off until asked for
    on = handle.run(f"%network on\n{code}")
    assert_ok(on)
    interfaces = ast.literal_eval(on.stream())  # a printed list of names
    assert "lo" in interfaces and [i for i in interfaces if i != "lo"], interfaces
    assert on.reply["metadata"]["dockerkernel"]["limits"]["network"] != "none"
    off = handle.run(f"%network off\n{code}")
    assert_ok(off, "['lo']\n")
    assert off.reply["metadata"]["dockerkernel"]["limits"]["network"] == "none"


def test_image_magic_refused_by_default_and_allowed_by_config(py, kernels, docker_client):
    refused = assert_error(py.run(f"%image {IMAGE_PREFIX}bash:latest"), "UsageError")
    assert "allow_image_change" in refused["evalue"], refused
    # a Bash kernel's cells in the Python image (every image has the runner and each boot)
    handle = kernels("docker-bash", "--DockerKernel.allow_image_change=True")
    assert_ok(handle.run(f"%image {IMAGE_PREFIX}python:latest"))
    result = handle.run("python3 -c 'import numpy; print(\"numpy\")'")  # numpy is in the Python image only
    assert_ok(result, "numpy\n")
    meta = result.reply["metadata"]["dockerkernel"]
    assert meta["image"] == f"{IMAGE_PREFIX}python:latest"
    assert meta["image_id"] == docker_client.images.get(f"{IMAGE_PREFIX}python:latest").id


ALL_MAGICS = ["%timeout", "%memory", "%cpus", "%pids", "%output", "%env", "%limits", "%network", "%image",
              "%lsmagic", "%help", "%cflags", "%lang", "%state", "%matplotlib", "%%file", "%%python", "%%bash",
              "%%rust"]


@pytest.mark.parametrize("magic", ["%lsmagic", "%help"])
def test_lsmagic_and_help_list_every_magic(py, magic):
    result = py.run(magic)
    assert_ok(result)
    # Python cells: %env, %matplotlib, %%file are IPython's; %lsmagic shows IPython's listing too
    text = result.stream() + "".join(m["content"]["data"]["text/plain"] for m in result.of_type("execute_result"))
    missing = [m for m in ALL_MAGICS if m not in text]
    assert not missing, (missing, text)


# ---- provenance ------------------------------------------------------------------------------------------------

PROVENANCE_KEYS = {"image", "image_id", "limits", "outcome", "exit_code", "wall_time"}


def test_provenance_of_an_ok_cell_and_an_error_cell(py, docker_client):
    image_id = docker_client.images.get(f"{IMAGE_PREFIX}python:latest").id
    ok = py.run("print('fine')")
    assert_ok(ok)
    failed = py.run("raise ValueError('bad')")
    assert_error(failed, "ValueError")
    for result, outcome, exit_code in ((ok, "ok", 0), (failed, "exit", 1)):
        meta = result.reply["metadata"]["dockerkernel"]
        assert PROVENANCE_KEYS <= set(meta), meta
        assert meta["image"] == f"{IMAGE_PREFIX}python:latest"
        assert meta["image_id"].startswith("sha256:") and meta["image_id"] == image_id
        assert meta["limits"]["memory"] == 512 * MiB and meta["limits"]["timeout"] == 30
        assert meta["limits"]["cpus"] == 1 and meta["limits"]["pids"] == 256
        assert meta["limits"]["output"] == 1 * MiB and meta["limits"]["network"] == "none"
        assert meta["outcome"] == outcome
        assert meta["exit_code"] == exit_code
        assert isinstance(meta["wall_time"], float) and 0 < meta["wall_time"] < 60


def test_provenance_of_a_timed_out_cell(py):
    try:
        result = py.run("%timeout 2\nimport time\ntime.sleep(30)", timeout=60)
        assert_error(result, "CellTimeout")
        meta = result.reply["metadata"]["dockerkernel"]
        assert meta["outcome"] == "timeout"
        assert meta["limits"]["timeout"] == 2
        assert isinstance(meta["wall_time"], float)
    finally:
        assert_ok(py.run("%timeout 30"))
