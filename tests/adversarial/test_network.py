"""Network access by name, by IP, to the cloud metadata address and to the Docker host: the cell
has only a loopback interface, so every attempt fails at once (no route), not by a slow timeout."""

from __future__ import annotations

import pytest

from .helpers import LANGS

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]

TARGETS = [("1.1.1.1", 80), ("8.8.8.8", 53), ("169.254.169.254", 80), ("172.17.0.1", 2375), ("172.17.0.1", 22)]

ATTEMPTS = {
    "python": (
        "import socket, time\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    print('RESOLVED', socket.getaddrinfo('example.com', 80))\n"
        "except OSError as exc:\n"
        "    print('name failed:', type(exc).__name__, exc)\n"
        f"for host, port in {TARGETS!r}:\n"
        "    s = socket.socket()\n"
        "    s.settimeout(5)\n"
        "    try:\n"
        "        s.connect((host, port))\n"
        "        print('CONNECTED', host, port)\n"
        "    except OSError as exc:\n"
        "        print('failed', host, port, exc.strerror or exc)\n"
        "    finally:\n"
        "        s.close()\n"
        "try:\n"
        "    u = socket.socket(socket.AF_INET6)\n"
        "    u.settimeout(5)\n"
        "    u.connect(('2606:4700:4700::1111', 80))\n"
        "    print('CONNECTED v6')\n"
        "except OSError as exc:\n"
        "    print('failed v6', exc.strerror or exc)\n"
        "print('interfaces', sorted(name for _, name in socket.if_nameindex()))\n"
        "print('took %.1f' % (time.monotonic() - started))\n"
    ),
    "bash": (
        "getent hosts example.com && echo RESOLVED || echo name failed\n"
        + "".join(
            f"timeout 5 bash -c 'exec 3<>/dev/tcp/{h}/{p}' 2>/dev/null && echo CONNECTED {h} {p} || echo failed {h} {p} $(timeout 5 bash -c 'exec 3<>/dev/tcp/{h}/{p}' 2>&1 | tail -1 | sed 's/.*: //')\n"
            for h, p in TARGETS
        )
        + "echo interfaces $(awk -F: 'NR > 2 {gsub(/ /, \"\", $1); print $1}' /proc/net/dev)\n"
    ),
    "c": (
        "#include <errno.h>\n#include <netdb.h>\n#include <arpa/inet.h>\n#include <sys/socket.h>\n#include <unistd.h>\n"
        "struct addrinfo *res;\n"
        "if (getaddrinfo(\"example.com\", \"80\", NULL, &res) == 0) puts(\"RESOLVED\"); else puts(\"name failed\");\n"
        f"const char *hosts[] = {{{', '.join(chr(34) + h + chr(34) for h, _ in TARGETS)}}};\n"
        f"int ports[] = {{{', '.join(str(p) for _, p in TARGETS)}}};\n"
        "for (int i = 0; i < 5; i++) {\n"
        "  int s = socket(AF_INET, SOCK_STREAM, 0);\n"
        "  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(ports[i])};\n"
        "  inet_pton(AF_INET, hosts[i], &a.sin_addr);\n"
        "  if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) printf(\"CONNECTED %s\\n\", hosts[i]);\n"
        "  else printf(\"failed %s %d %s\\n\", hosts[i], ports[i], strerror(errno));\n"
        "  close(s);\n"
        "}\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_no_network(cells, lang):
    """By name, by IP, the metadata address, the Docker bridge gateway: all fail with no route."""
    ran = cells.run(lang, ATTEMPTS[lang], hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "RESOLVED" not in out and "CONNECTED" not in out, out
    assert "name failed" in out, out
    for host, port in TARGETS:
        line = next(line for line in out.splitlines() if line.startswith(f"failed {host} {port}"))
        # refused at once: no route (runc: ENETUNREACH; gVisor's netstack: EHOSTUNREACH), no timeout
        assert "unreachable" in line.lower() or "no route to host" in line.lower(), line
    if lang in ("python", "bash"):
        assert "interfaces ['lo']" in out or "interfaces lo" in out, out
    # "quickly-ish": a no-route failure is immediate; 20 s is a generous no-hang bound
    assert ran.elapsed < 20, ran.describe()
    cells.aftermath(ran, lang)
