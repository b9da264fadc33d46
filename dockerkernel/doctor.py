"""``dockerkernel doctor``: check what a cell needs, and print the fix for each problem."""

from __future__ import annotations

import asyncio
import os
import uuid

from .cells import Limits, build_request
from .errors import DockerKernelError
from .languages import LANGUAGES, get_language
from .magics import SessionSettings

# Run inside a cell container: report the limits that really apply, as the program sees them.
_PROBE = r"""
import os, socket
def read(*paths):
    for p in paths:
        try:
            return open(p).read().strip()
        except OSError:
            pass
    return "?"
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
caps = status.get("CapEff", "?").strip()
nnp = status.get("NoNewPrivs", "?").strip()  # gVisor does not report it
try:
    open("/probe", "w"); ro = "writable"
except OSError:
    ro = "read-only"
print("uid", os.getuid())
print("capabilities", caps)
print("no_new_privs", nnp)
print("rootfs", ro)
print("memory", read("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
print("memswap", read("/sys/fs/cgroup/memory.swap.max", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"))
print("pids", read("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"))
print("cpu", read("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
try:
    print("interfaces", ",".join(sorted(os.listdir("/sys/class/net"))))
except OSError:
    print("interfaces", "?")
print("workspace", "writable" if os.access("/workspace", os.W_OK) else "not writable")
"""


class Report:
    """Collects check results and prints them as they come."""

    def __init__(self):
        """Start with no problems."""
        self.problems = 0

    def ok(self, what: str, detail: str = "") -> None:
        """A passing check."""
        print(f"  ok    {what}{': ' + detail if detail else ''}")

    def bad(self, what: str, detail: str, fix: str) -> None:
        """A failing check and how to fix it."""
        self.problems += 1
        print(f"  FAIL  {what}: {detail}\n        fix: {fix}")


def run_doctor(language: str = "python", runtime: str = "") -> int:
    """Run every check; exit status 0 when all pass."""
    report = Report()
    print("dockerkernel doctor")
    client = _check_daemon(report)
    if client is not None:
        _check_runtime(report, client, runtime)
        present = _check_images(report, client)
        lang = get_language(language)
        if lang.image in present:
            _check_cell(report, client, lang, runtime)
    _check_kernelspecs(report)
    print(f"\n{report.problems} problem(s) found" if report.problems else "\nall checks passed")
    return 1 if report.problems else 0


def _check_daemon(report: Report):
    from .sandbox import connect

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock (default)")
    try:
        client = connect(timeout=15)
        version = client.version()
        report.ok("daemon", f"{host}, Docker {version.get('Version')}, API {version.get('ApiVersion')}")
        return client
    except DockerKernelError as exc:
        text = str(exc)
        fix = "start dockerd (bash scripts/ensure-docker.sh) or point DOCKER_HOST / DOCKER_CONTEXT at a daemon"
        lowered = text.lower()
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered or "context" in lowered:
            fix = (
                "DOCKER_CERT_PATH must hold that daemon's CA (ca.pem) and a client certificate it accepts "
                "(cert.pem, key.pem); for the compose stack copy them from the docker-certs-client volume: "
                "`docker cp $(docker-compose ps -q docker):/certs/client DIR`"
            )
        report.bad("daemon", text.split("\n")[0], fix)
        return None


def _check_runtime(report: Report, client, runtime: str) -> None:
    info = client.info()
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    wanted = runtime or info.get("DefaultRuntime", "runc")
    if wanted in runtimes:
        report.ok("runtime", f"{wanted} (available: {', '.join(runtimes)})")
    else:
        report.bad(
            "runtime", f"{wanted} is not registered with the daemon (available: {', '.join(runtimes)})",
            'register it in /etc/docker/daemon.json, e.g. {"runtimes": {"runsc": {"path": "/usr/bin/runsc", '
            '"runtimeArgs": ["--network=none"]}}}, then restart dockerd',
        )
    report.ok("storage", f"{info.get('Driver')}, cgroup v{info.get('CgroupVersion', '?')}, {info.get('NCPU')} CPUs")


def _check_images(report: Report, client) -> set[str]:
    present = set()
    for lang in LANGUAGES.values():
        try:
            image = client.images.get(lang.image)
            present.add(lang.image)
            report.ok(f"image {lang.image}", f"{image.attrs.get('Size', 0) / 1e6:.0f} MB")
        except Exception:
            report.bad(f"image {lang.image}", "missing", f"dockerkernel images build {lang.name}")
    return present


def _check_cell(report: Report, client, lang, runtime: str) -> None:
    """Run a real cell with the default limits and read back what the container sees."""
    from .sandbox import Output, Sandbox

    python = LANGUAGES["python"]
    if python.image not in {t for i in client.images.list() for t in i.tags}:
        return
    limits = Limits(runtime=runtime, timeout=60)
    chunks: list[bytes] = []
    hello_request = build_request(lang, _hello(lang.name), SessionSettings(lang, base_limits=limits))
    probe_request = build_request(python, _PROBE, SessionSettings(python, base_limits=limits))

    async def probe():
        sandbox = Sandbox(uuid.uuid4().hex, client=client, pool_size=0)
        try:
            hello = await sandbox.run(hello_request, lambda e: None)
            outcome = await sandbox.run(
                probe_request,
                lambda e: chunks.append(e.data) if isinstance(e, Output) and e.stream == "stdout" else None,
            )
            return hello, outcome
        finally:
            await sandbox.close()

    try:
        hello, outcome = asyncio.run(probe())
    except DockerKernelError as exc:
        report.bad("cell", str(exc).split("\n")[0], getattr(exc, "hint", "") or "see the message")
        return
    if hello.reason == "ok":
        report.ok(f"a {lang.name} cell runs", f"{hello.elapsed * 1000:.0f} ms cold")
    else:
        fix = f"rebuild the image: dockerkernel images build {lang.name}"
        report.bad(f"a {lang.name} cell runs", str(hello.reason), fix)
    seen = dict(line.split(" ", 1) for line in b"".join(chunks).decode().splitlines() if " " in line)
    expect = {
        "uid": ("1000", "the image must run as uid 1000"),
        "capabilities": ("0000000000000000", "capabilities must all be dropped"),
        "no_new_privs": ("1", "no-new-privileges must be set"),
        "rootfs": ("read-only", "the root filesystem must be read-only"),
        "memory": (str(limits.memory), "the daemon ignores memory limits: enable the memory cgroup"),
        "pids": (str(limits.pids), "the daemon ignores the pids limit: enable the pids cgroup"),
        "interfaces": ("lo", "cells must have no network"),
        "workspace": ("writable", "the workspace volume must be writable by uid 1000"),
    }
    for key, (value, fix) in expect.items():
        if seen.get(key) == value:
            report.ok(f"limit {key}", value)
        else:
            report.bad(f"limit {key}", f"expected {value}, the cell sees {seen.get(key, 'nothing')}", fix)
    swap = seen.get("memswap")
    if swap in (str(limits.memory), "0", "max") or swap is None:
        report.ok("limit swap", "no swap beyond the memory limit" if swap == str(limits.memory) else f"{swap}")
    else:
        report.ok("limit swap", f"memory+swap {swap} (the kernel cannot account swap here)")


def _hello(name: str) -> str:
    """A hello-world cell of each language (run as a cell: C/C++/Rust/Java statements are wrapped)."""
    return {
        "python": "print('hello')",
        "javascript": "console.log('hello')",
        "bash": "echo hello",
        "ruby": "puts 'hello'",
        "c": 'printf("hello\\n");',
        "cpp": 'cout << "hello" << endl;',
        "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }',
        "rust": 'println!("hello");',
        "java": 'System.out.println("hello");',
    }.get(name, "")


def _check_kernelspecs(report: Report) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().find_kernel_specs()
    for lang in LANGUAGES.values():
        if lang.kernel_name in found:
            report.ok(f"kernelspec {lang.kernel_name}", found[lang.kernel_name])
        else:
            fix = "dockerkernel install --sys-prefix (or --user)"
            report.bad(f"kernelspec {lang.kernel_name}", "not installed", fix)
