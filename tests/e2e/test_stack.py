"""End to end: docker-compose stack (nested daemon + JupyterLab), browser, TLS, tear-down.

One stack for the whole module (fixture ``stack`` in conftest.py); the tests run in file
order and the last one takes the stack down with ``dind/down.sh -v`` and checks that nothing
of the project is left on the host.

Where a cell ran is proved by the cell itself: it prints its hostname (= the first 12 hex
digits of its container id), and that container must show up in the nested daemon's events
with our ``dockerkernel.kernel`` label, while the host daemon has no container with that id
or that kernel label. Other tests may run on the host daemon at the same time, so nothing
here counts the host's containers; it looks for these ids only.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest

from .conftest import ARTIFACTS, PROJECT, ROOT, project_objects

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(3600)]

LABEL_KERNEL = "dockerkernel.kernel"
HOSTNAME_CELL = "import socket; print(socket.gethostname())"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

# Runs in the jupyter container: one kernel, one cell, the messages as JSON on stdout.
KERNEL_SCRIPT = r"""
import json, sys
from jupyter_client.manager import start_new_kernel

km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=180)
outputs = []
try:
    reply = kc.execute_interactive(
        sys.argv[2], timeout=180,
        output_hook=lambda m: outputs.append({"type": m["msg_type"], "content": m["content"]}))
    print(json.dumps({"status": reply["content"]["status"], "outputs": outputs}))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
"""


def stdout_text(outputs: list[dict]) -> str:
    """The stdout stream text of a cell's iopub messages."""
    return "".join(o["content"]["text"] for o in outputs
                   if o["type"] == "stream" and o["content"].get("name") == "stdout")


def container_creates(client: docker.DockerClient, since: float, until: float,
                      label: str | None = None) -> list[tuple[str, dict]]:
    """(container id, labels) of every container created on a daemon in [since, until]."""
    filters = {"type": "container", "event": "create"}
    if label:
        filters["label"] = label
    found = []
    for ev in client.events(since=int(since) - 1, until=int(until) + 1, decode=True, filters=filters):
        found.append((ev.get("id") or ev.get("Actor", {}).get("ID", ""),
                      ev.get("Actor", {}).get("Attributes", {})))
    return found


def assert_ran_nested_only(stack, host_client, hostname: str, since: float) -> str:
    """The container `hostname` was created on the nested daemon and not on the host; its kernel id."""
    until = time.time()
    assert re.fullmatch(r"[0-9a-f]{12}", hostname), f"unexpected cell hostname {hostname!r}"
    nested = stack.nested_client()
    ours = [(cid, labels) for cid, labels in container_creates(nested, since, until)
            if cid.startswith(hostname)]
    assert ours, f"container {hostname} is not among the nested daemon's creates since the cell started"
    kernel_id = ours[0][1].get(LABEL_KERNEL)
    assert kernel_id, f"container {hostname} on the nested daemon lacks the {LABEL_KERNEL} label"
    # The host daemon: no container of that kernel, none with that id, ever in this window.
    on_host = container_creates(host_client, since, until, label=f"{LABEL_KERNEL}={kernel_id}")
    assert on_host == [], f"the host daemon created containers of kernel {kernel_id}: {on_host}"
    assert not [c for c, _ in container_creates(host_client, since, until) if c.startswith(hostname)]
    assert host_client.containers.list(all=True, filters={"label": f"{LABEL_KERNEL}={kernel_id}"}) == []
    return kernel_id


def run_host_kernel(env: dict, code: str, kernel_name: str = "docker-python") -> dict:
    """Start this checkout's kernelspec on the host with `env`, run one cell; status + outputs."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=180, env=env)
    outputs: list[dict] = []
    try:
        reply = kc.execute_interactive(
            code, timeout=180,
            output_hook=lambda m: outputs.append({"type": m["msg_type"], "content": m["content"]}))
        return {"status": reply["content"]["status"], "outputs": outputs}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def host_env(stack, *, keep_ca_bundle_vars: bool = False, **extra: str) -> dict:
    """The host environment with the nested daemon's DOCKER_* (and without a host DOCKER_HOST)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    if not keep_ca_bundle_vars:
        # docker-py lets these override the daemon's CA (docker/docker-py#2433); see
        # test_tls_works_with_requests_ca_bundle_set for the product-side fix.
        env.pop("REQUESTS_CA_BUNDLE", None)
        env.pop("CURL_CA_BUNDLE", None)
    env.update(stack.tls_env())
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------
# the stack came up, from nothing, and is locked down
# ---------------------------------------------------------------------------------------


def test_stack_up_and_token_required(stack):
    """JupyterLab answers on 127.0.0.1 with the token, and refuses the API without it."""
    with urllib.request.urlopen(f"{stack.url}/api/status?token={stack.token}", timeout=30) as r:
        assert r.status == 200
        assert "kernels" in json.loads(r.read())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.url}/api/status", timeout=30)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{stack.url}/api/status?token=wrong{stack.token}", timeout=30)
    # Only the Docker kernels: nothing runs code in the jupyter container itself.
    with urllib.request.urlopen(f"{stack.url}/api/kernelspecs?token={stack.token}", timeout=30) as r:
        specs = json.loads(r.read())["kernelspecs"]
    assert "docker-python" in specs and specs["docker-python"]["spec"]["display_name"] == "Python 3 (Docker)"
    assert all(name.startswith("docker-") for name in specs), sorted(specs)


def test_language_images_built_inside_nested_daemon(stack):
    """The language images exist on the nested daemon; without preload they were built there."""
    nested = stack.nested_client()
    langs = os.environ.get("DOCKERKERNEL_E2E_LANGUAGES", "python javascript bash").split()
    for lang in ["base", *langs]:
        image = nested.images.get(f"dockerkernel/{lang}:latest")
        assert image.labels.get("dockerkernel.context-hash"), lang
    if os.environ.get("DOCKERKERNEL_PRELOAD", "0") != "1":
        # the jupyter container's own `dockerkernel images build`, shown by dind/up.sh
        for lang in langs:
            assert f"building dockerkernel/{lang}:latest (missing)" in stack.up_log, lang
        assert "built dockerkernel/python:latest" in stack.up_log
    assert re.search(r"language images ready after \d+ s", stack.up_log)


def test_nested_daemon_speaks_mutual_tls_only(stack):
    """Port 2376 only, TLS only, and a client certificate is required."""
    # Listening TCP sockets inside the nested daemon's container: 2376 and nothing else.
    tcp = subprocess.run(["docker", "exec", stack.docker_id, "cat", "/proc/net/tcp", "/proc/net/tcp6"],
                         capture_output=True, text=True, check=True).stdout
    listening = set()
    for line in tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            address, port = fields[1].rsplit(":", 1)
            if address != "0B00007F":  # 127.0.0.11: Docker's embedded DNS of the compose network
                listening.add(int(port, 16))
    assert listening == {2376}, listening
    # Plain HTTP is answered with a TLS-only error, never with the API.
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(f"http://127.0.0.1:{stack.docker_port}/version", timeout=30)
    assert plain.value.code == 400
    # TLS that trusts the daemon's CA but sends no client certificate: refused.
    ctx = ssl.create_default_context(cafile=str(stack.certs / "ca.pem"))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        with urllib.request.urlopen(f"https://127.0.0.1:{stack.docker_port}/version", context=ctx, timeout=30) as r:
            r.read()
    # With the client certificate from the volume: the nested daemon, not the host's.
    nested = stack.nested_client()
    assert nested.info()["Name"] == stack.docker_id[:12]
    assert nested.info()["Driver"] in ("overlay2", "fuse-overlayfs", "vfs")


# ---------------------------------------------------------------------------------------
# cells run on the nested daemon only
# ---------------------------------------------------------------------------------------


def test_kernel_in_jupyter_container_runs_cells_on_nested_daemon(stack, host_client):
    """A kernel inside the jupyter container: the cell's container is on the nested daemon only."""
    since = time.time()
    proc = stack.exec_jupyter("python3", "-", "docker-python", HOSTNAME_CELL, input=KERNEL_SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok", result
    hostname = stdout_text(result["outputs"]).strip()
    assert_ran_nested_only(stack, host_client, hostname, since)


def test_nbconvert_examples_inside_jupyter_container(stack, host_client):
    """`jupyter nbconvert --execute` of the examples, in the jupyter container, no errors."""
    langs = os.environ.get("DOCKERKERNEL_E2E_LANGUAGES", "python javascript bash").split()
    notebooks = [f"examples/hello-{lang}.ipynb" for lang in langs
                 if (ROOT / "examples" / f"hello-{lang}.ipynb").is_file()]
    assert "examples/hello-python.ipynb" in notebooks
    since = time.time()
    for nb in notebooks:
        proc = stack.exec_jupyter(
            "jupyter", "nbconvert", "--to", "notebook", "--execute", nb,
            "--ExecutePreprocessor.timeout=180", "--output-dir", "/tmp/e2e-nbconvert", timeout=900)
        assert proc.returncode == 0, f"{nb}:\n{proc.stderr[-3000:]}"
        out = stack.exec_jupyter("cat", f"/tmp/e2e-nbconvert/{Path(nb).name}")
        executed = json.loads(out.stdout)
        (ARTIFACTS / f"nbconvert-{Path(nb).name}").write_text(out.stdout)
        outputs = [o for c in executed["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        errors = [o for o in outputs if o["output_type"] == "error"]
        assert errors == [], f"{nb}: {errors}"
        assert outputs, f"{nb}: no outputs at all"
        if nb.endswith("hello-python.ipynb"):
            assert any("image/png" in o.get("data", {}) for o in outputs), "no inline plot"
            assert "hello, world" in json.dumps(outputs)
    # Every dockerkernel container of that run was on the nested daemon; none on the host.
    nested_kernels = {labels.get(LABEL_KERNEL) for _, labels in
                      container_creates(stack.nested_client(), since, time.time())} - {None}
    assert nested_kernels, "no cell container appeared on the nested daemon"
    for kid in nested_kernels:
        assert container_creates(host_client, since, time.time(), label=f"{LABEL_KERNEL}={kid}") == []


# ---------------------------------------------------------------------------------------
# a kernel outside the stack, over TCP + mutual TLS
# ---------------------------------------------------------------------------------------


def test_host_kernel_against_nested_daemon_over_tls(stack, host_client):
    """This checkout's kernel, on the host, with the client certificates copied from the volume."""
    since = time.time()
    result = run_host_kernel(host_env(stack), HOSTNAME_CELL)
    assert result["status"] == "ok", result
    assert_ran_nested_only(stack, host_client, stdout_text(result["outputs"]).strip(), since)


def test_tls_works_with_requests_ca_bundle_set(stack, host_client):
    """REQUESTS_CA_BUNDLE (set machine-wide behind TLS-inspecting proxies) must not replace the
    daemon's CA. Needs dockerkernel.sandbox.connect() to use dockerkernel.deploy.docker_client()."""
    env = host_env(stack, keep_ca_bundle_vars=True,
                   REQUESTS_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt")
    doctor = subprocess.run([str(VENV_PYTHON), "-m", "dockerkernel.cli", "doctor"], env=env,
                            capture_output=True, text=True, timeout=300)
    daemon_line = next((line for line in doctor.stdout.splitlines() if " daemon" in line), doctor.stderr)
    assert "ok    daemon: tcp://127.0.0.1" in daemon_line, daemon_line[:600]
    since = time.time()
    result = run_host_kernel(env, HOSTNAME_CELL)
    assert result["status"] == "ok", result
    assert_ran_nested_only(stack, host_client, stdout_text(result["outputs"]).strip(), since)


def test_docker_context_is_honoured(stack, host_client, tmp_path):
    """`docker context create` + DOCKER_CONTEXT, no DOCKER_HOST: the kernel uses that context.
    Needs dockerkernel.sandbox.connect() to use dockerkernel.deploy.docker_client()."""
    config = tmp_path / "docker-config"
    config.mkdir()
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    certs = stack.certs
    subprocess.run(
        ["docker", "context", "create", name, "--docker",
         f"host={stack.docker_host},ca={certs}/ca.pem,cert={certs}/cert.pem,key={certs}/key.pem"],
        env={**os.environ, "DOCKER_CONFIG": str(config)}, check=True, capture_output=True, timeout=60)
    env = host_env(stack, DOCKER_CONFIG=str(config), DOCKER_CONTEXT=name)
    for var in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(var)
    since = time.time()
    result = run_host_kernel(env, HOSTNAME_CELL)
    assert result["status"] == "ok", result
    assert_ran_nested_only(stack, host_client, stdout_text(result["outputs"]).strip(), since)


def _other_ca_client_certs(folder: Path, *, keep_ca: Path | None = None) -> Path:
    """A client certificate from a CA the daemon does not know (optionally with its real ca.pem)."""
    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "cakey.pem", "-out", "ca.pem", "-subj", "/CN=not the daemon's CA", "-days", "2")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "key.pem", "-out", "csr.pem", "-subj", "/CN=intruder")
    openssl("x509", "-req", "-in", "csr.pem", "-CA", "ca.pem", "-CAkey", "cakey.pem",
            "-set_serial", "1", "-days", "2", "-out", "cert.pem")
    if keep_ca:
        (folder / "ca.pem").write_bytes(keep_ca.read_bytes())
    return folder


@pytest.mark.parametrize("case", ["missing", "wrong-ca", "foreign-client-cert"])
def test_doctor_refuses_wrong_or_missing_certificates(stack, tmp_path, case):
    """`dockerkernel doctor` fails with a message about the certificate, exit status non-zero."""
    if case == "missing":
        cert_path = tmp_path / "empty"
        cert_path.mkdir()
    elif case == "wrong-ca":
        cert_path = _other_ca_client_certs(tmp_path / "other")
    else:  # trusts the daemon, but presents a client certificate the daemon did not issue
        cert_path = _other_ca_client_certs(tmp_path / "foreign", keep_ca=stack.certs / "ca.pem")
    env = host_env(stack)
    env["DOCKER_CERT_PATH"] = str(cert_path)
    proc = subprocess.run([str(VENV_PYTHON), "-m", "dockerkernel.cli", "doctor"], env=env,
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    (ARTIFACTS / f"doctor-{case}.txt").write_text(output)
    assert proc.returncode != 0, output
    daemon_line = next((line for line in output.splitlines() if "daemon" in line and "FAIL" in line), "")
    assert daemon_line, output
    assert "certificate" in output.lower(), output
    assert "ok    daemon" not in output
    # And the good certificates pass the same check.
    if case == "missing":
        good = subprocess.run([str(VENV_PYTHON), "-m", "dockerkernel.cli", "doctor"], env=host_env(stack),
                              capture_output=True, text=True, timeout=300)
        assert "ok    daemon: tcp://127.0.0.1" in good.stdout, good.stdout + good.stderr
        assert "ok    a python cell runs" in good.stdout, good.stdout


# ---------------------------------------------------------------------------------------
# JupyterLab in a real browser
# ---------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_jupyterlab_in_chromium(stack, host_client):
    """Open hello-python.ipynb on "Python 3 (Docker)", run all, read text + plot, interrupt."""
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), "apt-get install chromium (dind/ci-e2e.sh does)"
    since = time.time()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.set_default_timeout(60_000)
            page.goto(f"{stack.url}/lab/tree/examples/hello-python.ipynb?token={stack.token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell")
            # The notebook's kernelspec (docker-python) is started without asking.
            expect(page.locator(".jp-NotebookPanel-toolbar .jp-KernelName").first).to_have_text(
                "Python 3 (Docker)", timeout=60_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                ".some(e => /Python 3 \\(Docker\\) \\| Idle/.test(e.textContent))")

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator("li[data-command='runmenu:run-all']").click()
            page.wait_for_function(
                """() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                             .map(e => e.textContent.trim());
                           return p.length > 0 && p.every(s => /^\\[\\d+\\]:$/.test(s)); }""",
                timeout=180_000)
            outputs = page.locator(".jp-NotebookPanel .jp-OutputArea-output")
            texts = [outputs.nth(i).inner_text() for i in range(outputs.count())]
            joined = "\n".join(texts)
            assert "hello, world" in joined, texts
            assert "42" in texts, texts
            assert "a warning on stderr" in joined
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() >= 1
            # No cell failed: no traceback, no "SomeError: ..." line (an error output).
            assert "Traceback" not in joined, texts
            assert not re.search(r"(?m)^\w*(Error|Exception|Interrupt)\b.*:", joined), texts
            image = page.locator(".jp-NotebookPanel .jp-OutputArea-output img").first
            width, height, src = image.evaluate("i => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)]")
            assert src == "data:image/png;base64,"
            assert width > 100 and height > 100, (width, height)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-run-all.png"))

            # A long cell, interrupted from the toolbar.
            page.locator(".jp-NotebookPanel .jp-CodeCell").last.click()
            page.keyboard.press("Escape")
            page.keyboard.press("b")  # new cell below, command mode
            page.keyboard.press("Enter")  # edit it
            page.keyboard.type("import time; print('sleeping', flush=True); time.sleep(60)")
            cell = page.locator(".jp-NotebookPanel .jp-CodeCell").last
            page.keyboard.press("Control+Enter")  # run in place
            cell.locator(".jp-OutputArea-output", has_text="sleeping").wait_for(timeout=60_000)
            started = time.monotonic()
            page.locator(".jp-NotebookPanel-toolbar [data-command='notebook:interrupt-kernel']").click()
            cell.locator(".jp-OutputArea-output", has_text="KeyboardInterrupt").wait_for(timeout=20_000)
            assert time.monotonic() - started < 20
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]"
                ".some(e => /Python 3 \\(Docker\\) \\| Idle/.test(e.textContent))")
            cell.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-interrupt.png"))
        finally:
            browser.close()
    # The browser's cells ran on the nested daemon, none on the host.
    kernels = {labels.get(LABEL_KERNEL) for _, labels in
               container_creates(stack.nested_client(), since, time.time())} - {None}
    assert kernels, "no cell container appeared on the nested daemon"
    for kid in kernels:
        assert container_creates(host_client, since, time.time(), label=f"{LABEL_KERNEL}={kid}") == []


# The rows of issue 14's table, as a JupyterLab user meets them: a program that reads stdin asks
# through JupyterLab's input box, its prompt shown first; output is not held back by buffering.
STDIN_ROWS = [
    ('%%ruby\nprint "Name? "\nname = gets.chomp\nputs "hi #{name}"', "Name?", "ada", "hi ada"),
    ('%%c\nint n; printf("n? "); scanf("%d", &n); printf("%d\\n", n * 2);', "n?", "21", "42"),
    ("%%java\nvar sc = new java.util.Scanner(System.in); System.out.print(\"n? \"); int n = sc.nextInt();\n"
     "System.out.println(n * 2);", "n?", "21", "42"),
]
UNBUFFERED = '%%ruby\nputs "first"; $stderr.puts "second"; sleep 1; puts "third"'


def put_notebook(stack, path: str, sources: list[str], kernel: str, display: str) -> None:
    """Write a notebook into the stack's notebook directory through the Jupyter contents API."""
    cells = [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": src, "outputs": [],
              "execution_count": None} for i, src in enumerate(sources)]
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
          "metadata": {"kernelspec": {"name": kernel, "display_name": display, "language": kernel[7:]}}}
    request = urllib.request.Request(
        f"{stack.url}/api/contents/{path}", method="PUT", data=json.dumps({"type": "notebook", "content": nb}).encode(),
        headers={"Authorization": f"token {stack.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201)


def run_all_in_a_fresh_workspace(browser, stack, path: str, kernel_display: str):
    """Open ``path`` in JupyterLab, wait for its kernel to be idle, Run All; the code cells' locator.

    A workspace of its own: the one restored from an earlier test made JupyterLab ask for a
    kernel in a dialog, and Run All waited behind it."""
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(60_000)
    page.goto(f"{stack.url}/lab/workspaces/t-{uuid.uuid4().hex[:8]}/tree/{path}?reset&token={stack.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell")
    idle = re.escape(kernel_display) + r" \| Idle"
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some(e => /{idle}/.test(e.textContent))",
        timeout=120_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator("li[data-command='runmenu:run-all']").click()
    return page.locator(".jp-NotebookPanel .jp-CodeCell")


def test_jupyterlab_answers_programs_reading_stdin(stack):
    """Ruby ``gets``, C ``scanf``, Java ``Scanner`` under Run All: the prompt, then the input box in that
    cell; the typed answer is the program's input. Then Ruby's stdout and stderr arrive as written."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "apt-get install chromium (dind/ci-e2e.sh does)"
    put_notebook(stack, "work/stdin-rows.ipynb", [row[0] for row in STDIN_ROWS] + [UNBUFFERED],
                 "docker-polyglot", "Polyglot (Docker)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            cells = run_all_in_a_fresh_workspace(browser, stack, "work/stdin-rows.ipynb", "Polyglot (Docker)")
            for index, (_, prompt, answer, expected) in enumerate(STDIN_ROWS):
                cell = cells.nth(index)
                box = cell.locator(".jp-Stdin-input")
                box.wait_for(timeout=180_000)
                # the program's prompt is already on the screen when the box appears
                assert prompt in cell.locator(".jp-OutputArea").inner_text()
                box.fill(answer)
                box.press("Enter")
                cell.locator(".jp-OutputArea-output", has_text=expected).first.wait_for(timeout=60_000)
                text = cell.locator(".jp-OutputArea").inner_text()
                assert text.index(prompt) < text.index(answer) < text.rindex(expected), text
            cell = cells.nth(len(STDIN_ROWS))
            cell.locator(".jp-OutputArea-output", has_text="second").wait_for(timeout=120_000)
            # "first" and "second" are on the screen while the program still sleeps before "third"
            assert "third" not in cell.locator(".jp-OutputArea").inner_text()
            cell.locator(".jp-OutputArea-output", has_text="third").wait_for(timeout=30_000)
            outputs = cell.locator(".jp-OutputArea-output")
            shown = [(outputs.nth(i).get_attribute("data-mime-type"), outputs.nth(i).inner_text().strip())
                     for i in range(outputs.count())]
            # "first" and "second" are written a microsecond apart on two pipes that the daemon
            # copies separately: either may come first (JupyterLab then joins the two stdout parts)
            stdout = "\n".join(text for mime, text in shown if mime == "application/vnd.jupyter.stdout")
            stderr = "\n".join(text for mime, text in shown if mime == "application/vnd.jupyter.stderr")
            assert stdout.split() == ["first", "third"] and stderr == "second", shown
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            cells.page.screenshot(path=str(ARTIFACTS / "jupyterlab-stdin.png"))
        finally:
            browser.close()


def test_jupyterlab_pip_install_then_import(stack):
    """Issue 15's "done means" in the browser: `%pip install tabulate`, then the import works; the
    install runs in an installer container on the nested daemon (the only one with network)."""
    from playwright.sync_api import sync_playwright

    cells = ["%pip install tabulate", "from tabulate import tabulate\nprint(tabulate([[1, 2]]))"]
    put_notebook(stack, "work/pip.ipynb", cells, "docker-python", "Python 3 (Docker)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            cells = run_all_in_a_fresh_workspace(browser, stack, "work/pip.ipynb", "Python 3 (Docker)")
            page = cells.page
            cells.nth(1).locator(".jp-OutputArea-output", has_text="1  2").wait_for(timeout=600_000)
            assert "Traceback" not in cells.nth(1).locator(".jp-OutputArea").inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-pip.png"))
        finally:
            browser.close()


# ---------------------------------------------------------------------------------------
# tear-down (last)
# ---------------------------------------------------------------------------------------


def test_zz_down_v_leaves_nothing(stack, host_client):
    """dind/down.sh -v: no container, volume or network of the project is left on the host."""
    before = project_objects(host_client, PROJECT)
    assert before["containers"] and before["volumes"] and before["networks"], before
    proc = stack.down("-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project_objects(host_client, PROJECT) == {"containers": [], "volumes": [], "networks": []}
