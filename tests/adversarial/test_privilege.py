"""Privilege escalation: capabilities, setuid binaries (su, passwd, mount, ...), unshare of user
and mount namespaces, mount, raw and packet sockets, chown and setuid(0)."""

from __future__ import annotations

import pytest

from .helpers import LANGS, RUNTIME

pytestmark = [pytest.mark.docker, pytest.mark.adversarial]


def test_no_capabilities_no_new_privileges(cells):
    """Every capability set is empty, no_new_privs is on (asked with prctl, which gVisor answers
    too), and under runc a seccomp filter is installed (under gVisor the filter guards the
    Sentry on the host and is not visible inside)."""
    code = (
        "import ctypes, os\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status') if ':' in line)\n"
        "for name in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):\n"
        "    print(name, status.get(name, 'absent').strip())\n"
        "print('no_new_privs', ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))\n"  # PR_GET_NO_NEW_PRIVS
        "print('seccomp', status.get('Seccomp', 'absent').strip())\n"
        "print('uid', os.getuid(), os.geteuid())\n"
    )
    ran = cells.run("python", code)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    for name in ("CapInh", "CapPrm", "CapEff", "CapBnd"):
        assert f"{name} 0000000000000000" in out, out
    assert "CapAmb 0000000000000000" in out or "CapAmb absent" in out, out
    assert "no_new_privs 1" in out and "uid 1000 1000" in out, out
    if RUNTIME != "runsc":
        assert "seccomp 2" in out, out
    cells.aftermath(ran, "python")


def test_setuid_binaries_give_nothing(cells):
    """The image's setuid binaries run without privilege (no_new_privs): su, passwd, chsh, chfn,
    gpasswd, newgrp, mount and umount all fail, and nothing they would change changes."""
    code = (
        "echo setuid: $(find / -xdev -perm -4000 -type f 2>/dev/null | sort | tr '\\n' ' ')\n"
        "su root -c 'touch /tmp/pwned-su' </dev/null >/dev/null 2>&1; echo su=$?\n"
        "passwd -d root </dev/null >/dev/null 2>&1; echo passwd=$?\n"
        "chsh -s /bin/sh root </dev/null >/dev/null 2>&1; echo chsh=$?\n"
        "chfn -f pwned root </dev/null >/dev/null 2>&1; echo chfn=$?\n"
        "gpasswd -a sandbox root </dev/null >/dev/null 2>&1; echo gpasswd=$?\n"
        "newgrp root </dev/null >/dev/null 2>&1; echo newgrp=$?\n"
        "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m >/dev/null 2>&1; echo mount=$?\n"
        "umount /workspace >/dev/null 2>&1; echo umount=$?\n"
        "test -e /tmp/pwned-su && echo PWNED-SU\n"
        "grep -q '^root::' /etc/passwd /etc/shadow 2>/dev/null && echo PWNED-PASSWD\n"
        "mountpoint -q /workspace && echo workspace-still-mounted\n"
        "echo uid=$(id -u) groups=$(id -G)\n"
    )
    ran = cells.run("bash", code, hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "/usr/bin/su" in out.split("\n")[0], out  # the attack really had targets
    for tool in ("su", "passwd", "chsh", "chfn", "gpasswd", "newgrp", "mount", "umount"):
        assert f"{tool}=0" not in out, f"{tool} succeeded:\n{out}"
    assert "PWNED" not in out, out
    assert "workspace-still-mounted" in out and "uid=1000 groups=1000" in out, out
    cells.aftermath(ran, "bash")


UNSHARE = {
    "python": (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, flag in [('user', 0x10000000), ('mount', 0x00020000), ('net', 0x40000000), ('pid', 0x20000000), ('uts', 0x04000000)]:\n"
        "    rc = libc.unshare(flag)\n"
        "    print(name, 'UNSHARED' if rc == 0 else 'denied ' + os.strerror(ctypes.get_errno()))\n"
        "rc = libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)\n"
        "print('mount', 'MOUNTED' if rc == 0 else 'denied ' + os.strerror(ctypes.get_errno()))\n"
    ),
    "bash": (
        "for opt in -r -U -m -n -p -u '-r -m'; do unshare $opt true 2>/dev/null && echo \"unshare $opt UNSHARED\" || echo \"unshare $opt denied\"; done\n"
        "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null && echo mount MOUNTED || echo mount denied\n"
    ),
    "c": (
        "#include <sched.h>\n#include <errno.h>\n#include <sys/mount.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n"
        "long flags[] = {0x10000000, 0x00020000, 0x40000000, 0x20000000};\n"
        "for (int i = 0; i < 4; i++) { long rc = syscall(SYS_unshare, flags[i]);\n"
        "  printf(\"flag %lx %s %s\\n\", flags[i], rc == 0 ? \"UNSHARED\" : \"denied\", strerror(errno)); }\n"
        "if (mount(\"none\", \"/tmp\", \"tmpfs\", 0, NULL) == 0) puts(\"mount MOUNTED\"); else printf(\"mount denied %s\\n\", strerror(errno));\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_unshare_and_mount(cells, lang):
    """unshare of user, mount, net, pid namespaces (unshare -r, -m, ...) and mount(2) are refused."""
    ran = cells.run(lang, UNSHARE[lang], hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "MOUNTED" not in out, out
    if RUNTIME == "runsc":
        # gVisor implements user namespaces in its Sentry (no host namespace is created, uid 0
        # inside maps to 1000): creating one is allowed by design, and namespaces created from
        # inside it too. What must stay denied: namespaces without it, and mount(2).
        if lang == "bash":
            for opt in ("-m", "-n", "-p", "-u"):
                assert f"unshare {opt} denied" in out, out
        assert "mount denied" in out, out
    else:
        assert "UNSHARED" not in out, out
        assert out.count("denied") >= 5, out
    cells.aftermath(ran, lang)


RAW_SOCKETS = {
    "python": (
        "import socket\n"
        "for name, args in [('packet', (17, socket.SOCK_RAW, 0x0300)), ('raw-icmp', (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),\n"
        "                   ('raw-ip', (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)), ('raw6', (socket.AF_INET6, socket.SOCK_RAW, 58)),\n"
        "                   ('packet-dgram', (17, socket.SOCK_DGRAM, 0x0300))]:\n"
        "    try:\n"
        "        socket.socket(*args).close()\n"
        "        print(name, 'OPENED')\n"
        "    except OSError as exc:\n"
        "        print(name, 'denied', exc.strerror)\n"
    ),
    "c": (
        "#include <errno.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n"
        "int specs[][3] = {{17, SOCK_RAW, 0x0003}, {AF_INET, SOCK_RAW, IPPROTO_ICMP}, {AF_INET, SOCK_RAW, IPPROTO_RAW},\n"
        "                  {AF_INET6, SOCK_RAW, 58}, {17, SOCK_DGRAM, 0x0003}};\n"
        "for (int i = 0; i < 5; i++) { int s = socket(specs[i][0], specs[i][1], specs[i][2]);\n"
        "  if (s >= 0) printf(\"%d OPENED\\n\", i); else printf(\"%d denied %s\\n\", i, strerror(errno)); }\n"
    ),
}


@pytest.mark.parametrize("lang", ["python", "c"])
def test_raw_and_packet_sockets(cells, lang):
    """AF_PACKET and SOCK_RAW sockets need CAP_NET_RAW, which is dropped."""
    ran = cells.run(lang, RAW_SOCKETS[lang], hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "OPENED" not in out and out.count("denied") == 5, out
    cells.aftermath(ran, lang)


CHOWN = {
    "python": (
        "import os\n"
        "open('/workspace/mine', 'w').close()\n"
        "for what, fn in [('chown-root', lambda: os.chown('/workspace/mine', 0, 0)), ('chown-other', lambda: os.chown('/workspace/mine', 1001, 1001)),\n"
        "                 ('chgrp-root', lambda: os.chown('/workspace/mine', -1, 0)), ('setuid0', lambda: os.setuid(0)),\n"
        "                 ('setgid0', lambda: os.setgid(0)), ('setgroups', lambda: os.setgroups([0]))]:\n"
        "    try:\n"
        "        fn()\n"
        "        print(what, 'CHANGED')\n"
        "    except OSError as exc:\n"
        "        print(what, 'denied', exc.strerror)\n"
        "os.remove('/workspace/mine')\n"
    ),
    "bash": (
        "touch /workspace/mine\n"
        "for spec in 0:0 1001 :0 root; do chown $spec /workspace/mine 2>/dev/null && echo \"chown $spec CHANGED\" || echo \"chown $spec denied\"; done\n"
        "find /workspace/mine -printf 'owner %U:%G\\n'; rm /workspace/mine\n"
    ),
    "c": (
        "#include <unistd.h>\n#include <errno.h>\n"
        "fclose(fopen(\"/workspace/mine\", \"w\"));\n"
        "printf(\"chown-root %s\\n\", chown(\"/workspace/mine\", 0, 0) == 0 ? \"CHANGED\" : \"denied\");\n"
        "printf(\"chown-other %s\\n\", chown(\"/workspace/mine\", 1001, 1001) == 0 ? \"CHANGED\" : \"denied\");\n"
        "printf(\"setuid0 %s\\n\", setuid(0) == 0 ? \"CHANGED\" : \"denied\");\n"
        "printf(\"setgid0 %s\\n\", setgid(0) == 0 ? \"CHANGED\" : \"denied\");\n"
        "unlink(\"/workspace/mine\");\n"
    ),
}


@pytest.mark.parametrize("lang", LANGS)
def test_chown_and_setuid(cells, lang):
    """A file cannot be given away (chown needs CAP_CHOWN), and uid/gid 0 cannot be taken."""
    ran = cells.run(lang, CHOWN[lang], hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "CHANGED" not in out and out.count("denied") >= 4, out
    if lang == "bash":
        assert "owner 1000:1000" in out, out
    cells.aftermath(ran, lang)


def test_planted_setuid_file_gives_nothing(cells):
    """A setuid-root binary cannot be made (no chown to root); a setuid bit on one's own file in
    /workspace changes nothing under no_new_privs."""
    code = (
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/stat.h>\n"
        "int main(int argc, char **argv) {\n"
        "  if (argc > 1) { printf(\"child euid=%d\\n\", (int)geteuid()); return 0; }\n"
        "  FILE *in = fopen(\"/proc/self/exe\", \"rb\"), *out = fopen(\"/workspace/suid\", \"wb\"); int c;\n"
        "  while ((c = fgetc(in)) != EOF) fputc(c, out); fclose(in); fclose(out);\n"
        "  printf(\"chown root: %s\\n\", chown(\"/workspace/suid\", 0, 0) == 0 ? \"CHANGED\" : \"denied\");\n"
        "  chmod(\"/workspace/suid\", 04755); fflush(stdout);\n"
        "  execl(\"/workspace/suid\", \"suid\", \"x\", (char *)0); perror(\"exec\"); return 1; }\n"
    )
    ran = cells.run("c", code, hang_bound=60)
    out = ran.text()
    assert ran.reason == "ok", ran.describe()
    assert "chown root: denied" in out and "child euid=1000" in out, out
    cleanup = cells.run("bash", "rm -f /workspace/suid && echo removed")
    assert cleanup.text() == "removed\n"
    cells.aftermath(ran, "c")
