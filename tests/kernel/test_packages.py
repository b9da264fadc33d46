"""%pip, %npm and %gem against the real daemon and the real package index.

The installer container is the only one with the network; cells mount the package
environment read-only and keep network none. Each test that needs a cold install uses a
requirement list nobody asked for before (``tabulate!=0.0.<unique>``, always satisfied), so
the shared cache cannot hide the installer; the volumes such lists make are removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker.errors
import nbformat
import pytest

from dockerkernel import images
from dockerkernel.sandbox.packages import LABEL_PACKAGES, LABEL_REQUIREMENTS, complete_marker, prune_environments
from tests.support import ROOT, assert_error, assert_ok, unique_id, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.images("python", "javascript", "ruby")]

INSTALL_TIMEOUT = 600


class InstallerWatch:
    """Installer containers the daemon creates while it is open (a live event subscription: the
    daemon's replay buffer for ``since`` is too short on a busy machine)."""

    def __init__(self, client):
        self._events = client.events(decode=True, filters={
            "type": "container", "event": "create", "label": "dockerkernel.role=installer"})
        self.created: list[dict] = []
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self):
        try:
            for event in self._events:
                self.created.append(event)
        except Exception:  # noqa: BLE001  closed
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        time.sleep(1.0)  # events of the last moment
        self._events.close()
        self._thread.join(10)


@pytest.fixture
def unique_requirement(docker_client):
    """A requirement no environment in the cache has (its volumes are removed afterwards; ask for
    this fixture before ``kernels``, so that they are shut down, and the volumes free, by then)."""
    marker = f"0.0.{int(unique_id(), 16) % 10**9}"
    yield f"tabulate!={marker}"
    for info in docker_client.api.volumes(filters={"label": LABEL_PACKAGES}).get("Volumes") or []:
        if marker in (info.get("Labels") or {}).get(LABEL_REQUIREMENTS, ""):
            name = info["Name"]
            assert wait_until(lambda: not docker_client.api.containers(all=True, filters={"volume": name}))  # noqa: B023
            for volume in (name, complete_marker(name)):
                try:
                    docker_client.api.remove_volume(volume, force=True)
                except docker.errors.NotFound:
                    pass


def test_install_then_import_and_the_cache_serves_the_next_kernel(unique_requirement, kernels, docker_client):
    first = kernels("docker-python")
    assert_ok(first.run("print('before')"), "before\n")
    with InstallerWatch(docker_client) as watch:
        started = time.time()
        result = first.run(f"%pip install '{unique_requirement}' ujson", timeout=INSTALL_TIMEOUT)
        cold = time.time() - started
    assert_ok(result)
    assert "Successfully installed" in result.stream(), (result.stream(), result.stream("stderr"))
    assert watch.created, "the install ran no installer container"
    assert_ok(first.run("from tabulate import tabulate; import ujson\nprint(tabulate([[1, 2]]), ujson.dumps([3]))"),
              "-  -\n1  2\n-  - [3]\n")

    second = kernels("docker-python")
    assert_ok(second.run("print('warm')"), "warm\n")
    with InstallerWatch(docker_client) as watch:
        started = time.time()
        result = second.run(f"!pip install '{unique_requirement}' ujson", timeout=INSTALL_TIMEOUT)
        cached = time.time() - started
    assert_ok(result)
    assert "(from the cache)" in result.stream(), result.stream()
    assert not watch.created, "a cache hit ran the installer"
    assert_ok(second.run("import ujson; print(ujson.dumps({'a': 1}))"), '{"a":1}\n')
    print(f"\n%pip install tabulate ujson: cold {cold:.2f} s, from the cache {cached:.2f} s")


def test_cells_cannot_write_packages_and_have_no_network(kernels):
    kernel = kernels("docker-python")
    assert_ok(kernel.run("%pip install tabulate", timeout=INSTALL_TIMEOUT))
    result = kernel.run("import tabulate, os\nopen(os.path.join(os.path.dirname(tabulate.__file__), 'x.py'), 'w')")
    assert "Read-only file system" in assert_error(result, "OSError")["evalue"]
    started = time.time()
    result = kernel.run("import urllib.request\nurllib.request.urlopen('https://pypi.org', timeout=20)")
    assert_error(result, "URLError")
    assert time.time() - started < 15  # at once (no network at all), not after the 20 s timeout
    assert_ok(kernel.run("%pip list"))
    assert "tabulate" in kernel.run("%pip list").stream()


def test_unknown_package_is_an_install_error_and_the_next_cell_runs(kernels, docker_client):
    kernel = kernels("docker-python")
    name = f"dockerkernel-no-such-package-{unique_id()}"
    result = kernel.run(f"%pip install {name}", timeout=INSTALL_TIMEOUT)
    content = assert_error(result, "InstallError")
    assert "No matching distribution" in content["evalue"] and name in content["evalue"]
    assert_ok(kernel.run("print('still here')"), "still here\n")
    assert "no packages installed" in kernel.run("%pip list").stream()
    leftovers = [v["Name"] for v in docker_client.api.volumes(filters={"label": LABEL_PACKAGES}).get("Volumes") or []
                 if name in (v.get("Labels") or {}).get(LABEL_REQUIREMENTS, "")]
    assert not leftovers  # a failed install leaves no volume


def test_sdists_are_refused_by_default(kernels, docker_client):
    kernel = kernels("docker-python")
    # wget has only an sdist on PyPI: --only-binary finds nothing to install
    content = assert_error(kernel.run("%pip install wget", timeout=INSTALL_TIMEOUT), "InstallError")
    assert "No matching distribution" in content["evalue"]
    assert any("allow_source_builds" in line for line in content["traceback"])
    # a local sdist whose setup.py would run in the installer: refused before any container
    make = (
        "import io, tarfile\n"
        "setup = b'open(\"/opt/dkpackages/python/PWNED\", \"w\")\\nraise SystemExit(1)\\n'\n"
        "with tarfile.open('dkevil-0.1.tar.gz', 'w:gz') as archive:\n"
        "    info = tarfile.TarInfo('dkevil-0.1/setup.py'); info.size = len(setup)\n"
        "    archive.addfile(info, io.BytesIO(setup))\n"
        "del archive\n"
    )
    assert_ok(kernel.run(make))
    with InstallerWatch(docker_client) as watch:
        content = assert_error(kernel.run("%pip install ./dkevil-0.1.tar.gz"), "InstallError")
    assert "not a wheel" in content["evalue"]
    assert not watch.created
    assert_ok(kernel.run("print('next')"), "next\n")


def test_restart_starts_without_packages_and_uninstall_removes(kernels):
    kernel = kernels("docker-python")
    assert_ok(kernel.run("%pip install tabulate", timeout=INSTALL_TIMEOUT))
    assert_ok(kernel.run("import tabulate"))
    assert_ok(kernel.run("%pip uninstall tabulate"))
    assert_error(kernel.run("import tabulate"), "ModuleNotFoundError")
    assert_ok(kernel.run("%pip install tabulate", timeout=INSTALL_TIMEOUT))
    kernel.km.restart_kernel(now=False)
    kernel.kc.wait_for_ready(timeout=120)
    assert_error(kernel.run("import tabulate"), "ModuleNotFoundError")
    assert "no packages installed" in kernel.run("%pip list").stream()


def test_shutdown_leaves_only_the_cache(kernels, docker_client):
    kernel = kernels("docker-python")
    assert_ok(kernel.run("%pip install tabulate", timeout=INSTALL_TIMEOUT))
    pid = kernel.pid()
    kernel.shutdown()
    # the kernel_factory fixture checks that nothing labelled with the kernel's pid is left;
    # the environment stays, unowned, as the cache
    volumes = docker_client.api.volumes(filters={"label": LABEL_PACKAGES}).get("Volumes") or []
    ours = [v for v in volumes if (v.get("Labels") or {}).get(LABEL_REQUIREMENTS) == '["tabulate"]']
    assert ours and all("dockerkernel.pid" not in (v.get("Labels") or {}) for v in ours)
    assert not docker_client.api.containers(all=True, filters={"label": [f"dockerkernel.pid={pid}"]})


def test_npm_install(kernels):
    kernel = kernels("docker-javascript")
    result = kernel.run("%npm install left-pad", timeout=INSTALL_TIMEOUT)
    assert_ok(result)
    assert_ok(kernel.run("const leftPad = require('left-pad');\nconsole.log(leftPad('7', 3, '0'))"), "007\n")
    assert "left-pad@" in kernel.run("%npm list").stream()
    assert_error(kernel.run("%pip install tabulate"), "UsageError")  # the language's own manager only


def test_gem_install_from_a_local_gem(kernels):
    kernel = kernels("docker-ruby")
    gem = f"dkhello{unique_id()[:8]}"
    assert_ok(kernel.run(f'%%file {gem}.gemspec\nGem::Specification.new do |s|\n  s.name = "{gem}"\n'
                         f'  s.version = "0.1.0"\n  s.summary = "a test gem"\n  s.authors = ["tests"]\n'
                         f'  s.files = ["lib/{gem}.rb"]\nend\n'))
    assert_ok(kernel.run(f'%%file lib/{gem}.rb\nmodule Dkhello\n  def self.hi = "hello from a gem"\nend\n'))
    built = kernel.run(f'system("gem build {gem}.gemspec") or raise "gem build failed"')
    assert_ok(built)
    result = kernel.run(f"%gem install --local {gem}-0.1.0.gem", timeout=INSTALL_TIMEOUT)
    assert_ok(result)
    assert "1 gem installed" in result.stream(), result.stream()
    assert_ok(kernel.run(f'require "{gem}"\nputs Dkhello.hi'), "hello from a gem\n")
    assert gem in kernel.run("%gem list").stream()


def test_gc_prunes_environments_unused_for_days(unique_requirement, kernels, docker_client):
    kernel = kernels("docker-python")
    assert_ok(kernel.run(f"%pip install '{unique_requirement}'", timeout=INSTALL_TIMEOUT))
    marker = unique_requirement.split("!=")[1]
    (volume,) = [v["Name"] for v in docker_client.api.volumes(filters={"label": LABEL_PACKAGES}).get("Volumes") or []
                 if marker in (v.get("Labels") or {}).get(LABEL_REQUIREMENTS, "")]
    image = images.image_name("base")
    assert prune_environments(docker_client, 1, image, now=time.time() + 3 * 86400, only={volume}) == []  # in use
    kernel.shutdown()
    assert wait_until(lambda: not docker_client.api.containers(all=True, filters={"volume": volume}))
    assert prune_environments(docker_client, 7, image, now=time.time() + 3 * 86400, only={volume}) == []  # recent
    assert prune_environments(docker_client, 1, image, now=time.time() + 3 * 86400, only={volume}) == [volume]
    assert not [v for v in docker_client.api.volumes().get("Volumes") or [] if v["Name"].startswith(volume)]


def test_example_notebook_runs_under_nbconvert(tmp_path):
    """examples/packages.ipynb (it begins with %pip install) runs under `jupyter nbconvert --execute`."""
    path = Path(ROOT) / "examples" / "packages.ipynb"
    assert nbformat.read(path, as_version=4).cells[0].source.startswith("%pip install")
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    proc = subprocess.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600",
         "--output-dir", str(tmp_path), str(path)],
        capture_output=True, text=True, timeout=900, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    text = "".join(output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                   for output in cell.outputs)
    assert "dockerkernel    1" in text and "no network in cells: URLError" in text, text
    assert "packages are read-only: Read-only file system" in text, text
    assert not [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs
                if o.output_type == "error"]


def test_two_kernels_installing_the_same_list_share_one_installer(unique_requirement, kernels, docker_client):
    first, second = kernels("docker-python"), kernels("docker-python")
    for kernel in (first, second):
        assert_ok(kernel.run("print('ready')"), "ready\n")
    results = {}

    def install(kernel, label):
        results[label] = kernel.run(f"%pip install '{unique_requirement}'", timeout=INSTALL_TIMEOUT)

    with InstallerWatch(docker_client) as watch:
        threads = [threading.Thread(target=install, args=(k, n)) for n, k in (("a", first), ("b", second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(INSTALL_TIMEOUT)
    for result in results.values():
        assert_ok(result)
    assert len(watch.created) == 1, watch.created
    for kernel in (first, second):
        assert_ok(kernel.run("import tabulate; print('ok')"), "ok\n")


def test_requirements_file(kernels):
    kernel = kernels("docker-python")
    assert_ok(kernel.run("%%writefile requirements.txt\n# for this notebook\ntabulate  # tables\n"))
    assert_ok(kernel.run("%pip install -r requirements.txt", timeout=INSTALL_TIMEOUT))
    assert_ok(kernel.run("import tabulate; print('ok')"), "ok\n")
    assert_error(kernel.run("%pip install -r missing.txt"), "InstallError")


def run_with_execute(path, output) -> None:
    from dockerkernel.cli import main as cli_main

    assert cli_main(["execute", str(path), "-o", str(output)]) == 0


def run_with_papermill(path, output) -> None:
    import papermill

    papermill.execute_notebook(str(path), str(output), engine_name="dockerkernel", progress_bar=False)


@pytest.mark.parametrize("run", [run_with_execute, run_with_papermill], ids=["execute", "papermill"])
def test_requirements_travel_with_the_notebook(tmp_path, run):
    """`dockerkernel execute` and papermill's dockerkernel engine record the packages in the
    notebook and install them on the next run."""
    kernelspec = nbformat.read(Path(ROOT) / "examples" / "packages.ipynb", as_version=4).metadata
    nb = nbformat.v4.new_notebook(metadata=kernelspec)
    nb.cells = [nbformat.v4.new_code_cell("%pip install tabulate"),
                nbformat.v4.new_code_cell("import tabulate\nprint('imported')")]
    path = tmp_path / "travel.ipynb"
    nbformat.write(nb, path)
    run(path, path)
    executed = nbformat.read(path, as_version=4)
    assert executed.metadata.dockerkernel.requirements == {"python": ["tabulate"]}
    assert executed.cells[1].metadata.dockerkernel.requirements == {"python": ["tabulate"]}
    # without its %pip cell, on a fresh kernel: installed from the recorded list before the first cell
    del executed.cells[0]
    for cell in executed.cells:
        cell.outputs = []
    nbformat.write(executed, path)
    run(path, path)
    again = nbformat.read(path, as_version=4)
    text = "".join(output.get("text", "") for output in again.cells[0].outputs)
    assert "imported" in text and "(from the cache)" in text, text


def test_a_derived_image_with_requirements_and_its_own_kernelspec(tmp_path, docker_client):
    """`images build python --requirements FILE --tag NAME`, then `install python --image NAME --name K`:
    a course's image whose cells import the package with no %pip, and still have no network."""
    tag = f"dkderived-{unique_id()}/python:test"
    (tmp_path / "requirements.txt").write_text("tabulate\n")
    prefix = tmp_path / "prefix"
    try:
        built = subprocess.run([sys.executable, "-m", "dockerkernel", "images", "build", "python", "--requirements",
                                str(tmp_path / "requirements.txt"), "--tag", tag], capture_output=True, text=True,
                               timeout=INSTALL_TIMEOUT)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        labels = docker_client.images.get(tag).labels
        assert labels.get("dockerkernel.language") == "python" and "tabulate" in labels["dockerkernel.requirements"]
        done = subprocess.run([sys.executable, "-m", "dockerkernel", "install", "python", "--image", tag, "--name",
                               "docker-python-course", "--prefix", str(prefix)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        spec = prefix / "share" / "jupyter" / "kernels" / "docker-python-course" / "kernel.json"
        assert f"--DockerKernel.image={tag}" in spec.read_text()
        env = {**os.environ, "JUPYTER_PATH": str(prefix / "share" / "jupyter")}
        code = ("from tabulate import tabulate; print(tabulate([[1, 2]]))\n"
                "import urllib.request\ntry:\n    urllib.request.urlopen('https://pypi.org', timeout=5)\n"
                "except OSError as e:\n    print('no network')\n")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "docker-python-course", "display_name": "course", "language": "python"}
        path = tmp_path / "course.ipynb"
        nbformat.write(nb, path)
        ran = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                              "--ExecutePreprocessor.kernel_name=docker-python-course", "--output", "out.ipynb",
                              str(path)], capture_output=True, text=True, env=env, timeout=300)
        assert ran.returncode == 0, ran.stderr[-3000:]
        text = "".join(o.get("text", "") for o in nbformat.read(tmp_path / "out.ipynb", 4).cells[0].outputs)
        assert "-  -\n1  2\n-  -" in text and "no network" in text, text
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except docker.errors.DockerException:
            pass
