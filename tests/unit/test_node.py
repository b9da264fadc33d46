"""dockerkernel.node without a daemon: the cluster CA, a celld's certificate and command line."""

from __future__ import annotations

import socket
import ssl
import subprocess

import pytest

from dockerkernel import node
from dockerkernel.cli import build_parser


def openssl_text(path) -> str:
    return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-text"], capture_output=True, text=True,
                          check=True).stdout


def test_cluster_ca_and_client_certificate(tmp_path):
    root = node.make_ca(tmp_path / "cluster")
    client = root / "client"
    assert sorted(p.name for p in client.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert (root / "ca" / "key.pem").stat().st_mode & 0o077 == 0
    assert (client / "key.pem").stat().st_mode & 0o077 == 0
    text = openssl_text(client / "cert.pem")
    assert "TLS Web Client Authentication" in text
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(root / "ca" / "cert.pem"), str(client / "cert.pem")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    # a second call keeps the CA (clients already hold its certificate)
    before = (root / "ca" / "cert.pem").read_bytes()
    node.make_ca(root)
    assert (root / "ca" / "cert.pem").read_bytes() == before


def test_celld_server_certificate_names_the_node(tmp_path):
    root = node.make_ca(tmp_path)
    celld = node.Celld(name="node7", ca_root=str(root), exec_root=str(tmp_path / "run"),
                       data_root=str(tmp_path / "lib"), addresses=("192.168.213.17",))
    celld.prepare()
    text = openssl_text(f"{celld.tls_dir}/cert.pem")
    assert "DNS:node7" in text and "IP Address:192.168.213.17" in text and "IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text
    # a client of the cluster CA accepts it under the node's name, and only that CA does
    context = ssl.create_default_context(cafile=f"{celld.tls_dir}/ca.pem")
    context.load_cert_chain(str(root / "client" / "cert.pem"), str(root / "client" / "key.pem"))
    other = node.make_ca(tmp_path / "other")
    assert (root / "ca" / "cert.pem").read_bytes() != (other / "ca" / "cert.pem").read_bytes()


def test_celld_argv_keeps_off_the_main_daemon(tmp_path):
    celld = node.Celld(name="n", ca_root=str(tmp_path), exec_root="/run/cells", data_root="/var/lib/cells",
                       cgroup_parent="/cells-n", extra_args=("--log-level=warn",))
    argv = celld.argv()
    assert argv[0] == "dockerd"
    for flag in ("--host=tcp://0.0.0.0:2376", "--tlsverify", "--data-root=/var/lib/cells", "--exec-root=/run/cells",
                 "--pidfile=/run/cells/dockerd.pid", "--config-file=/run/cells/daemon.json",
                 "--cgroup-parent=/cells-n", "--bridge=none", "--iptables=false", "--ip-masq=false",
                 "--log-level=warn"):
        assert flag in argv
    assert not any(a.startswith("--host=unix") or a == "--host=tcp://0.0.0.0:2375" for a in argv)


def test_server_sans():
    sans = node.server_sans("node1", ["10.0.0.5"])
    assert sans.startswith("DNS:node1,")
    assert f"DNS:{socket.gethostname()}" in sans and "IP:127.0.0.1" in sans and sans.endswith("IP:10.0.0.5")


def test_health_of_nothing_is_a_node_error(tmp_path):
    root = node.make_ca(tmp_path)
    with pytest.raises(node.NodeError, match="does not answer"):
        node.ping("tcp://127.0.0.1:9", str(root / "client"), timeout=2)
    with pytest.raises(node.NodeError, match="unsupported daemon address"):
        node.ping("ssh://x", None)


def test_cli_has_the_node_and_image_transfer_commands():
    parser = build_parser()
    args = parser.parse_args(["node", "celld", "--ca", "/c", "--name", "n1", "--", "--debug"])
    assert (args.node_command, args.name, args.dockerd_args) == ("celld", "n1", ["--debug"])
    args = parser.parse_args(["images", "sync", "bash", "--host", "tcp://n1:2376", "--host", "tcp://n2:2376"])
    assert args.host == ["tcp://n1:2376", "tcp://n2:2376"] and args.languages == ["bash"]
    assert parser.parse_args(["images", "export", "base", "bash", "-o", "x.tar"]).output == "x.tar"
