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

from conftest import ROOT, our_objects, wait_until
from dockerkernel.sandbox import LABEL_HOST, LABEL_PID, owner_alive, this_host

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("images")]

EXAMPLES = Path(ROOT) / "examples"
ALL_NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
HELLO_NOTEBOOKS = sorted(EXAMPLES.glob("hello-*.ipynb"))

# What the hello notebooks must show (per notebook: text in stdout / stderr, MIME types).
EXPECTED = {
    "hello-python.ipynb": {
        "stdout": ["hello, world", "written in one container", "timeout"],
        "stderr": ["a warning on stderr"],
        "mimes": ["image/png", "text/html"],
        "results": ["42"],
    },
    "hello-javascript.ipynb": {
        "stdout": ["hello, world", "written in one container", "timeout"],
        "stderr": ["a warning on stderr"],
        "mimes": ["text/html"],
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


def check_executed(nb, name: str) -> None:
    """No error output; every code cell ran; the hello notebooks show what they promise."""
    outputs = outputs_of(nb)
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, f"{name}: error outputs: {[(e.ename, e.evalue) for e in errors]}"
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code_cells, f"{name} has no code cells"
    assert all(c.execution_count for c in code_cells), f"{name}: a code cell did not run"
    assert outputs, f"{name} produced no output at all"
    expected = EXPECTED.get(name)
    if expected is None:
        return
    streams = {"stdout": "", "stderr": ""}
    for out in outputs:
        if out.output_type == "stream":
            streams[out.name] += out.text
    for stream in ("stdout", "stderr"):
        for text in expected[stream]:
            assert text in streams[stream], f"{name}: {text!r} not in {stream}: {streams[stream]!r}"
    mimes = {mime for o in outputs if o.output_type in ("display_data", "execute_result") for mime in o.data}
    for mime in expected["mimes"]:
        assert mime in mimes, f"{name}: no {mime} output (have {sorted(mimes)})"
    results = [o.data.get("text/plain") for o in outputs if o.output_type == "execute_result"]
    assert results == expected.get("results", []), f"{name}: execute_result values {results}"
    # the file written in one cell is read in the next: the read cell shows the content
    read_cell = next(c for c in nb.cells if c.get("id") == "read-file")
    assert "written in one container" in "".join(o.get("text", "") for o in read_cell.outputs)


def test_examples_exist():
    """The three hello notebooks are there (a renamed file would silently drop coverage)."""
    assert sorted(p.name for p in HELLO_NOTEBOOKS) == sorted(EXPECTED)
    assert set(HELLO_NOTEBOOKS) <= set(ALL_NOTEBOOKS)


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
    assert spec.language == nb.metadata.kernelspec.language == nb.metadata.language_info.name


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
