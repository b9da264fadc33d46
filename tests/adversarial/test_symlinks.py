"""Symlinks (and FIFOs) planted in /workspace, followed by everything our code does on the
workspace afterwards: %%file (put_archive), completion listing, the Python state files read by
the next cell's boot code, shutdown and volume removal (tmpfs and plain volumes)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile

import pytest

from dockerkernel.sandbox import LABEL_KERNEL, LABEL_ROLE

from .helpers import Cells, assert_kernel_objects_gone, kernel_args, kernel_settled, mounts_of

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]


def sha(path: str) -> str:
    """Content hash of a host file."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def host_canary():
    """A host directory with a file in it, which no cell may reach."""
    directory = tempfile.mkdtemp(prefix="dk-adv-canary-")
    path = os.path.join(directory, "secret")
    with open(path, "w") as fh:
        fh.write("host secret " + secrets.token_hex(8) + "\n")
    state = {"dir": directory, "file": path, "sha": sha(path), "listing": sorted(os.listdir(directory))}
    yield state
    shutil.rmtree(directory, ignore_errors=True)


def assert_host_untouched(canary: dict, passwd_sha: str) -> None:
    """The canary directory and file and the host's /etc/passwd are exactly as before."""
    assert sorted(os.listdir(canary["dir"])) == canary["listing"], os.listdir(canary["dir"])
    assert sha(canary["file"]) == canary["sha"]
    assert sha("/etc/passwd") == passwd_sha


def holder_of(client, kernel_id: str) -> str:
    """The id of the kernel's workspace-holder container."""
    for info in client.api.containers(all=True, filters={"label": [f"{LABEL_KERNEL}={kernel_id}"]}):
        if (info.get("Labels") or {}).get(LABEL_ROLE) == "workspace":
            return info["Id"]
    raise AssertionError("no workspace holder")


# (what the cell plants, the %%file path that goes through it)
FILE_THROUGH = {
    "file-link-to-etc-passwd": ("ln -s /etc/passwd x", "x"),
    "file-link-to-host-canary": ("ln -s {file} x", "x"),
    "dir-link-to-host-canary-dir": ("ln -s {dir} hostdir", "hostdir/planted"),
    "dir-link-to-root": ("ln -s / root", "root/etc/passwd"),
    "dir-link-to-etc": ("ln -s /etc etcdir", "etcdir/passwd"),
    "dir-link-to-opt-dockerkernel": ("ln -s /opt/dockerkernel od", "od/runner.py"),
    "dir-link-to-tmp": ("ln -s /tmp tmpdir", "tmpdir/planted"),
    "nested-relative-link": ("mkdir -p d && ln -s ../../.. d/up", "d/up/etc/passwd"),
}


@pytest.mark.parametrize("case", sorted(FILE_THROUGH))
def test_file_magic_does_not_follow_planted_symlinks(kernel_factory, docker_client, host_canary, case):
    """%%file PATH through a symlink the cell planted never writes outside /workspace: not on the
    host, and not into the workspace holder's (read-only) root filesystem either. It may refuse
    the path or replace the link with a regular file; the written file is found in /workspace."""
    plant, path = FILE_THROUGH[case]
    passwd_sha = sha("/etc/passwd")
    kernel = kernel_factory("docker-bash", *kernel_args())
    planted = kernel.run(plant.format(**host_canary) + " && echo planted")
    assert planted.stream() == "planted\n", planted.reply
    kernel_id = kernel.kernel_id()
    holder = holder_of(docker_client, kernel_id)
    # what Docker itself adds (the init binary) is the baseline; %%file must add nothing to it
    baseline = {(c["Path"], c["Kind"]) for c in docker_client.api.diff(holder) or []}

    body = f"written-by-file-magic-{secrets.token_hex(6)}"
    try:
        result = kernel.run(f"%%file {path}\n{body}\n", timeout=30)
    except TimeoutError:
        result = None  # no execute_reply at all: checked below, after the safety checks

    assert_host_untouched(host_canary, passwd_sha)
    changed = sorted({(c["Path"], c["Kind"]) for c in docker_client.api.diff(holder) or []} - baseline)
    assert changed == [], (
        f"%%file {path} wrote through the planted link into the workspace holder's root filesystem: "
        f"{changed} (reply: {result and (result.status, result.ename)})"
    )
    nxt = kernel.run("echo fine")
    assert nxt.status == "ok" and nxt.stream() == "fine\n"
    assert result is not None, (
        f"%%file {path}: no execute_reply within 30 s (the frontend would wait forever); the kernel's "
        "log shows docker.errors.APIError from put_archive escaping do_execute"
    )
    if result.status == "ok":
        # the content must be in the workspace, at the name the user gave
        seen = kernel.run(f"cat /workspace/{path}")
        assert body in seen.stream(), (seen.reply, seen.stream(), seen.stream("stderr"))
    else:
        assert result.ename in ("UsageError", "SandboxError"), result.reply
    kernel_settled(docker_client, kernel_id)


def test_completion_over_a_hostile_workspace(kernel_factory, docker_client):
    """Completion lists workspace names (bounded, as plain strings) without following links:
    links to /, /etc and /proc are names, never their targets' contents."""
    kernel = kernel_factory("docker-bash", *kernel_args())
    plant = (
        "ln -s / root; ln -s /etc etc; ln -s /proc/1/root proc1; ln -s /etc/shadow shadow; mkfifo fifo\n"
        "touch \"$(printf 'esc\\033]0;title\\007name')\" \"$(printf 'new\\nline')\" \"$(printf 'z%.0s' $(seq 255))\"\n"
        "mkdir many && cd many && seq -f 'f%05g' 1 3000 | xargs touch && cd .. && seq -f 'top%04g' 1 1500 | xargs touch\n"
        "echo planted\n"
    )
    planted = kernel.run(plant)
    assert planted.status == "ok" and planted.stream().endswith("planted\n"), (planted.reply, planted.stream("stderr"))
    kernel.kc.complete("", 0)
    reply = kernel.kc.get_shell_msg(timeout=60)["content"]
    assert reply["status"] == "ok"
    matches = reply["matches"]
    assert all(isinstance(m, str) for m in matches)
    assert len(matches) <= 1000 + 200, len(matches)  # the runner lists at most 1000 names
    for token in ("r", "e", "p", "s", "f", "z", "t", "n"):
        kernel.kc.complete(token, 1)
        got = kernel.kc.get_shell_msg(timeout=60)["content"]
        assert got["status"] == "ok", got
    kernel.kc.complete("root/", 5)
    under_root = kernel.kc.get_shell_msg(timeout=60)["content"]["matches"]
    assert not any(m.startswith("root/") for m in under_root), under_root  # the link is never listed into
    kernel.kc.complete("etc/pa", 6)
    assert kernel.kc.get_shell_msg(timeout=60)["content"]["matches"] == []
    nxt = kernel.run("rm -rf many top* && echo fine")
    assert nxt.status == "ok" and nxt.stream() == "fine\n"
    kernel_settled(docker_client, kernel.kernel_id())


@pytest.mark.parametrize("workspace", ["tmpfs", "plain-volume"])
def test_shutdown_does_not_follow_planted_symlinks(kernel_factory, docker_client, host_canary, workspace):
    """Shutdown removes the workspace volume (tmpfs or a plain host directory) without following
    links into the host: the host's canary directory and /etc/passwd are untouched, and nothing
    of the kernel remains (containers, volume, mounts)."""
    passwd_sha = sha("/etc/passwd")
    extra = ["--DockerKernel.workspace_size=0"] if workspace == "plain-volume" else []
    kernel = kernel_factory("docker-bash", *kernel_args(*extra))
    plant = (
        "ln -s {dir} hostdir; ln -s {file} hostfile; ln -s / root; ln -s /etc/passwd pw\n"
        "mkdir -p deep/a/b && ln -s {dir} deep/a/b/c && ln -s ../../../root deep/a/up\n"
        "touch hostdir-looking-file; echo planted\n"
    ).format(**host_canary)
    planted = kernel.run(plant)
    assert planted.stream() == "planted\n", (planted.reply, planted.stream("stderr"))
    kernel_id = kernel.kernel_id()
    volume = f"dockerkernel-ws-{kernel_id[:24]}"
    kernel.shutdown()
    assert_kernel_objects_gone(docker_client, kernel_id, volume)
    assert not mounts_of(volume)
    assert_host_untouched(host_canary, passwd_sha)


STATE_PLANTS = {
    # the next Python cell's boot code opens these before/while restoring the notebook's variables
    "fifo-as-modules-file": "os.remove(M) if os.path.exists(M) else None; os.mkfifo(M)",
    "dev-zero-as-state-file": "os.remove(S) if os.path.exists(S) else None; os.symlink('/dev/zero', S)",
    "fifo-as-state-file": "os.remove(S) if os.path.exists(S) else None; os.mkfifo(S)",
    "dev-zero-as-modules-file": "os.remove(M) if os.path.exists(M) else None; os.symlink('/dev/zero', M)",
    "host-path-link-as-state-file": "os.remove(S) if os.path.exists(S) else None; os.symlink('/etc/shadow', S)",
}


@pytest.mark.parametrize("case", sorted(STATE_PLANTS))
def test_planted_python_state_files(docker_client, images, case):
    """A cell replaces the Python state files in /workspace/.dockerkernel with a FIFO or a link to
    /dev/zero (and exits before its own state is saved). The following cells must still run
    normally (a broken state may be reported and dropped) — not time out or die of OOM, one
    after the other, until the kernel is restarted."""
    cells = Cells(docker_client, pool_size=1)
    try:
        first = cells.run("python", "x = 41")
        assert first.reason == "ok", first.describe()
        attack = (
            "import os\n"
            "M = '/workspace/.dockerkernel/python-modules.txt'\n"
            "S = '/workspace/.dockerkernel/python-state.pkl'\n"
            f"{STATE_PLANTS[case]}\n"
            "print('planted', flush=True)\n"
            "os._exit(0)\n"  # skip the state save that would overwrite the plant
        )
        ran = cells.run("python", attack)
        assert ran.reason == "ok" and ran.text() == "planted\n", ran.describe()
        for _ in range(2):  # the first may use a pool container that was ready before the plant
            cells.normal("python", timeout=10)
    finally:
        cells.close()
