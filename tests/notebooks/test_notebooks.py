"""Notebooks: every ``examples/*.ipynb`` runs cleanly on the Docker kernels.

Each example is executed by nbclient (in-process) and each ``hello-*`` example also by
``jupyter nbconvert --to notebook --execute`` (a subprocess, the way users and CI run it).
Afterwards none of the containers and volumes those kernels made may remain.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from dockerkernel.sandbox import LABEL_HOST, LABEL_PID, owner_alive, this_host
from tests.support import ROOT, our_objects, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("images")]

EXAMPLES = Path(ROOT) / "examples"
ALL_NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
HELLO_NOTEBOOKS = sorted(EXAMPLES.glob("hello-*.ipynb"))

# What the hello notebooks must show (per notebook: text in stdout / stderr, MIME types).
EXPECTED = {
    "hello-python.ipynb": {
        "stdout": ["hello, world", "written in one container", "restored: 42", "timeout"],
        "stderr": ["a warning on stderr"],
        "mimes": ["image/png", "text/html"],
        "results": ["42"],
    },
    "hello-javascript.ipynb": {
        "stdout": ["hello, world", "written in one container", "timeout"],
        "stderr": ["a warning on stderr"],
        "mimes": ["text/html"],
    },
    # %stdin feeds the same file to C, Java and Ruby under nbconvert (nobody answers there)
    "interactive.ipynb": {
        "stdout": ["sum = 15", "product = 120", "read 4 numbers, largest 6", "your name? (nobody answered"],
        "stderr": [],
        "mimes": [],
    },
    "hello-bash.ipynb": {
        "stdout": ["hello, world", "written in one container", "timeout"],
        "stderr": ["a warning on stderr"],
        "mimes": ["text/html"],
    },
}

# Kernel processes started by this module: their containers and volumes must all be gone.
KERNEL_PIDS: set[str] = set()


@pytest.fixture(scope="module")
def client(docker_client):
    """The daemon, plus a baseline of objects that existed before this module (not ours)."""
    containers, volumes = our_objects(docker_client)
    docker_client.baseline = {c["Id"] for c in containers} | {v["Name"] for v in volumes}
    return docker_client


def leftovers(client) -> list[str]:
    """Our objects that outlived their kernel: made by a kernel of this module, or by a dead one.

    Objects of kernels still running elsewhere (another test session on this host) are not
    counted; objects that existed before this module started are not ours to judge.
    """
    containers, volumes = our_objects(client)
    found = []
    for kind, items, key in (("container", containers, "Id"), ("volume", volumes, "Name")):
        for item in items:
            labels = item.get("Labels") or {}
            if item[key] in client.baseline or labels.get(LABEL_HOST) != this_host():
                continue
            if labels.get(LABEL_PID) in KERNEL_PIDS or not owner_alive(labels):
                found.append(f"{kind} {item[key][:24]} {item.get('Names') or ''} {labels}")
    return found


def outputs_of(nb) -> list[dict]:
    """All outputs of all code cells."""
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


# one assertion per kind of cell output, read top to bottom as a list
def check_executed(nb, name: str) -> None:  # noqa: C901
    """No error output; every code cell ran; the hello notebooks show what they promise.

    All problems are collected and reported together, so one failing cell does not hide the
    state of the others. Errors are allowed only in cells tagged ``raises-exception`` (the
    nbclient convention for a cell that demonstrates an error).
    """
    problems: list[str] = []
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if not code_cells:
        problems.append("no code cells")
    for cell in code_cells:
        if not cell.execution_count:
            problems.append(f"cell {cell.get('id')} did not run")
        if "raises-exception" in cell.metadata.get("tags", []):
            continue
        for out in cell.outputs:
            if out.output_type == "error":
                problems.append(f"cell {cell.get('id')}: {out.ename}: {out.evalue}")
    outputs = outputs_of(nb)
    if not outputs:
        problems.append("no output at all")
    streams = {"stdout": "", "stderr": ""}
    for out in outputs:
        if out.output_type == "stream":
            streams[out.name] += out.text
    if name.startswith("hello-") and "hello, world" not in streams["stdout"]:
        problems.append(f"no 'hello, world' in stdout {streams['stdout']!r}")
    expected = EXPECTED.get(name)
    if expected is not None:
        for stream in ("stdout", "stderr"):
            for text in expected[stream]:
                if text not in streams[stream]:
                    problems.append(f"{text!r} not in {stream} {streams[stream]!r}")
        mimes = {mime for o in outputs if o.output_type in ("display_data", "execute_result") for mime in o.data}
        problems += [f"no {mime} output (have {sorted(mimes)})" for mime in expected["mimes"] if mime not in mimes]
        results = [o.data.get("text/plain") for o in outputs if o.output_type == "execute_result"]
        if results != expected.get("results", []):
            problems.append(f"execute_result values {results}")
    if expected is not None and name.startswith("hello-"):
        # the file written in one cell is read back by the next one
        read_cell = next(c for c in nb.cells if c.get("id") == "read-file")
        read_text = "".join(o.get("text", "") for o in read_cell.outputs)
        if "written in one container" not in read_text:
            problems.append(f"the read-file cell printed {read_text!r}, not the file written by the cell before")
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_examples_exist():
    """The Python, JavaScript and Bash hello notebooks are there (a rename would drop coverage)."""
    assert set(EXPECTED) <= {p.name for p in ALL_NOTEBOOKS}


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_examples_are_stored_clean(path):
    """Examples are stored without outputs and name a docker kernel that exists."""
    from jupyter_client.kernelspec import KernelSpecManager

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: stored with outputs"
    kernel = nb.metadata.kernelspec.name
    assert kernel.startswith("docker-")
    spec = KernelSpecManager().get_kernel_spec(kernel)
    assert spec.language == nb.metadata.kernelspec.language
    assert spec.display_name == nb.metadata.kernelspec.display_name


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_nbclient_executes(path, client, tmp_path):
    """nbclient runs the notebook end to end; its kernel leaves nothing behind."""
    nb = nbformat.read(path, as_version=4)
    pids: list[str] = []
    runner = NotebookClient(
        nb,
        timeout=120,
        startup_timeout=120,
        kernel_name=nb.metadata.kernelspec.name,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    runner.on_notebook_start = lambda notebook: pids.append(str(runner.km.provisioner.process.pid))
    runner.execute()
    assert len(pids) == 1
    KERNEL_PIDS.update(pids)
    check_executed(nb, path.name)
    pid_label = f"{LABEL_PID}={pids[0]}"

    def remaining():
        containers = client.api.containers(all=True, filters={"label": [pid_label]})
        volumes = client.api.volumes(filters={"label": pid_label}).get("Volumes") or []
        return containers + volumes

    assert wait_until(lambda: not remaining(), timeout=20), f"left behind by {path.name}: {remaining()}"


@pytest.mark.parametrize("path", HELLO_NOTEBOOKS, ids=lambda p: p.name)
def test_nbconvert_executes(path, client, tmp_path):
    """``jupyter nbconvert --to notebook --execute`` exits 0 and writes the executed notebook."""
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    proc = subprocess.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=120",
         "--output-dir", str(tmp_path), str(path)],
        capture_output=True, text=True, timeout=240, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    produced = tmp_path / path.name
    assert produced.exists(), f"nbconvert wrote {list(tmp_path.iterdir())}"
    nb = nbformat.read(produced, as_version=4)
    check_executed(nb, path.name)
    assert nb.metadata.language_info.get("version"), "kernel_info's language version was not recorded"


def test_nothing_left_behind(client):
    """After every notebook above: their kernels have exited and left no container or volume."""
    assert wait_until(lambda: not [p for p in KERNEL_PIDS if owner_alive({LABEL_PID: p})], timeout=20)
    assert wait_until(lambda: not leftovers(client), timeout=20), leftovers(client)
