"""Reading host secrets: the kernel's environment (a canary), its connection file and HMAC key,
the Docker socket, other processes through /proc, and /proc's masked kernel interfaces."""

from __future__ import annotations

import secrets

import pytest

from .helpers import kernel_args, kernel_settled

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]


def probes(conn_file: str, canary_name: str) -> dict[str, str]:
    """One cell per language that dumps everything it can see that could hold a secret."""
    return {
        "bash": (
            "%%bash\n"
            "env\n"
            "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ; tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null\n"
            f"test -e '{conn_file}' && echo CONNFILE-PRESENT\n"
            "find / \\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null | sed 's/^/SOCKET /'\n"
            "for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock; do test -e $s && echo SOCKET $s; done\n"
            "echo DOCKER_HOST=${DOCKER_HOST:-unset}\n"
            "echo probe-done\n"
        ),
        "python": (
            "%%python\n"
            "import glob, os\n"
            "print('\\n'.join(f'{k}={v}' for k, v in os.environ.items()))\n"
            "for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):\n"
            "    try:\n"
            "        print(open(path, 'rb').read().replace(b'\\0', b'\\n').decode(errors='replace'))\n"
            "    except OSError:\n"
            "        pass\n"
            f"print('CONNFILE-PRESENT' if os.path.exists({conn_file!r}) else 'no connection file')\n"
            f"print('canary via getenv:', os.environ.get({canary_name!r}, 'unset'))\n"
            "print('probe-done')\n"
        ),
        "c": (
            "%%c\n"
            "#include <unistd.h>\n"
            "extern char **environ;\n"
            "for (char **e = environ; *e; e++) puts(*e);\n"
            f"const char *v = getenv(\"{canary_name}\"); printf(\"canary via getenv: %s\\n\", v ? v : \"unset\");\n"
            f"if (access(\"{conn_file}\", F_OK) == 0) puts(\"CONNFILE-PRESENT\");\n"
            "if (access(\"/var/run/docker.sock\", F_OK) == 0) puts(\"SOCKET docker\");\n"
            "puts(\"probe-done\");\n"
        ),
    }


@pytest.mark.parametrize("lang", ["bash", "python", "c"])
def test_kernel_secrets_are_not_visible(kernel_factory, docker_client, monkeypatch, lang):
    """A canary in the kernel's environment, the connection file, its HMAC key and the Docker socket
    are invisible to cells of every language (checked through a polyglot kernel)."""
    canary_name = "DK_ADVERSARIAL_CANARY"
    canary = "canary-" + secrets.token_hex(12)
    monkeypatch.setenv(canary_name, canary)
    kernel = kernel_factory("docker-polyglot", *kernel_args())
    with open(f"/proc/{kernel.pid()}/environ", "rb") as fh:
        assert canary.encode() in fh.read(), "test setup: the kernel process did not get the canary"
    conn_file = kernel.km.connection_file
    key = kernel.km.session.key.decode()
    assert key
    result = kernel.run(probes(conn_file, canary_name)[lang], timeout=180)
    out = result.stream("stdout") + result.stream("stderr")
    assert result.status == "ok", (result.reply, out[-2000:])
    assert "probe-done" in out, out[-2000:]
    assert canary not in out, "the kernel's environment leaked into the cell"
    assert key not in out, "the kernel's HMAC key leaked into the cell"
    assert "CONNFILE-PRESENT" not in out
    assert "SOCKET" not in out, out
    assert "DOCKER_HOST=unset" in out or lang != "bash"
    assert "-m dockerkernel" not in out and "ipykernel" not in out.lower(), "host processes are visible"
    nxt = kernel.run("%%bash\necho fine")
    assert nxt.status == "ok" and nxt.stream() == "fine\n"
    kernel_settled(docker_client, kernel.kernel_id(), pool_size=8)


def test_proc_is_namespaced_and_masked(cells):
    """/proc shows only the cell's own processes; kcore, sched_debug are absent, keys and timer_list
    empty, kernel symbol addresses zeroed, /sys/firmware empty."""
    code = (
        "echo procs=$(ls -d /proc/[0-9]* | wc -l)\n"
        "test -e /proc/kcore && echo KCORE-VISIBLE\n"
        "echo keys=$(cat /proc/keys 2>/dev/null | wc -c) timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c)\n"
        "test -r /proc/sched_debug && echo SCHED-DEBUG-VISIBLE\n"
        "echo nonzero_syms=$(awk '$1 != \"0000000000000000\"' /proc/kallsyms 2>/dev/null | head -5 | wc -l)\n"
        "echo firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l)\n"
        "ps -eo comm= | sort | tr '\\n' ' '\n"
    )
    ran = cells.run("bash", code)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    procs = int(out.split("procs=")[1].split()[0])
    assert procs <= 8, out  # docker-init, runner, bash, ls, ... — never the host's hundreds
    assert "KCORE-VISIBLE" not in out and "SCHED-DEBUG-VISIBLE" not in out, out
    assert "keys=0 timer_list=0" in out, out
    assert "nonzero_syms=0" in out, out
    assert "firmware=0" in out, out
    assert "dockerd" not in out and "containerd" not in out, out
    cells.aftermath(ran, "bash")
