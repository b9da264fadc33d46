"""Cluster nodes: one cell daemon ("celld") per node, its certificates, its images, its state.

On a cluster (Docker Swarm, see ``examples/swarm/``) every node runs, next to the daemon the
cluster engine uses, a second ``dockerd`` that only runs cells — a *celld*:

* its own ``--data-root`` / ``--exec-root`` / ``--pidfile`` / ``--config-file`` and managed
  containerd, so it never shares state with the node's main daemon;
* ``--cgroup-parent`` of its own (one cgroup to cap every cell of the node);
* no bridge, no iptables, no masquerading (cells run with network none; the main daemon owns
  the node's netfilter rules);
* ``tcp://0.0.0.0:2376`` with mutual TLS only: the server certificate names the node
  (``DNS:<node name>``, ``IP:<node addresses>``) and is issued from the cluster CA;
  clients present the cluster's client certificate.

A user's server reaches *its own node's* celld with ``DOCKER_HOST=tcp://<node name>:2376``
(in Swarm: the template ``{{.Node.Hostname}}``), ``DOCKER_TLS_VERIFY=1`` and
``DOCKER_CERT_PATH`` holding ``ca.pem``, ``cert.pem``, ``key.pem``.

Images reach the cellds without a registry: ``docker save`` on one daemon, ``docker load`` on
each celld (``export``/``load``/``sync``); the load keeps the image ID.

Commands (``python -m dockerkernel.node …`` needs only the standard library and ``openssl``,
so it runs on a bare node; ``dockerkernel node …`` is the same)::

    node ca DIR                         cluster CA + client certificate (DIR/ca, DIR/client)
    node celld --ca DIR --name NODE     issue the node's server certificate, run the celld
    node health [--host H]              exit 0 when the celld answers a mutual-TLS /_ping
    node status [--host H] [--json]     the daemon's name/ID, our images, our containers
    images export LANG... -o FILE       docker save of the language images (current daemon)
    images load FILE --host H           docker load into a celld
    images sync LANG... --host H...     copy the images a celld lacks (by image ID)

Errors: ``NodeError`` (a ``DockerKernelError``) with what failed and the fix.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from .errors import DockerKernelError

DEFAULT_PORT = 2376
LABEL_KERNEL = "dockerkernel.kernel"  # the label every object of a kernel carries (sandbox/labels.py)


class NodeError(DockerKernelError):
    """A node command failed: certificates, the celld's start, or its health."""


# ---------------------------------------------------------------------------- certificates


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    """Run openssl; raise NodeError with its stderr when it fails."""
    try:
        done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        raise NodeError("openssl is not installed on this node", "Debian: apt-get install openssl") from None
    if done.returncode:
        raise NodeError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def make_ca(directory: str | os.PathLike, name: str = "dockerkernel cluster CA") -> Path:
    """Create (if missing) the cluster CA in DIR/ca and a client certificate in DIR/client.

    DIR/ca/{cert,key}.pem: EC P-256, ten years; the key stays with whoever issues node
    certificates. DIR/client/{ca,cert,key}.pem: what a kernel needs (``DOCKER_CERT_PATH``).
    Returns DIR. Raises ``NodeError``.
    """
    root = Path(directory)
    ca = root / "ca"
    ca.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (ca / "cert.pem").is_file() or not (ca / "key.pem").is_file():
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(ca / "key.pem"))
        os.chmod(ca / "key.pem", 0o600)
        _openssl(
            "req", "-new", "-x509", "-key", str(ca / "key.pem"), "-sha256", "-days", "3650",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(ca / "cert.pem"),
        )
    client = root / "client"
    if not (client / "cert.pem").is_file():
        issue(root, client, "dockerkernel client", "clientAuth")
    return root


def issue(ca_root: str | os.PathLike, out_dir: str | os.PathLike, cn: str, eku: str, sans: str = "") -> Path:
    """Key + certificate for CN signed by CA_ROOT/ca, with ca.pem beside them, in OUT_DIR.

    ``eku``: ``serverAuth`` or ``clientAuth``; ``sans``: an openssl subjectAltName value such
    as ``DNS:node1,IP:10.0.0.5``. Returns OUT_DIR. Raises ``NodeError``.
    """
    ca = Path(ca_root) / "ca"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ext = Path(tmp) / "ext.cnf"
        lines = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage = {eku}",
        ]
        if sans:
            lines.append(f"subjectAltName = {sans}")
        ext.write_text("\n".join(lines) + "\n")
        csr = Path(tmp) / "csr.pem"
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(out / "key.pem"))
        os.chmod(out / "key.pem", 0o600)
        _openssl("req", "-new", "-key", str(out / "key.pem"), "-subj", f"/CN={cn}", "-out", str(csr))
        serial = "0x" + os.urandom(16).hex()
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca / "cert.pem"), "-CAkey", str(ca / "key.pem"),
            "-set_serial", serial, "-days", "825", "-sha256", "-extfile", str(ext), "-out", str(out / "cert.pem"),
        )
    (out / "ca.pem").write_bytes((ca / "cert.pem").read_bytes())
    return out


def node_addresses() -> list[str]:
    """This node's IPv4 addresses (from its hostname), loopback excluded."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return []
    return sorted({info[4][0] for info in infos if not info[4][0].startswith("127.")})


def server_sans(name: str, addresses: list[str]) -> str:
    """subjectAltName of a celld: the node's name, localhost, loopback and its addresses."""
    names = dict.fromkeys([name, socket.gethostname(), "localhost"])
    ips = dict.fromkeys(["127.0.0.1", *addresses])
    return ",".join([*(f"DNS:{n}" for n in names if n), *(f"IP:{ip}" for ip in ips)])


# ---------------------------------------------------------------------------- the celld


@dataclasses.dataclass(frozen=True)
class Celld:
    """How a node's cell daemon runs. Paths are on the node; ``port`` is TCP."""

    name: str  # the node's name as clients address it (Swarm: {{.Node.Hostname}})
    ca_root: str  # the cluster CA directory (make_ca); the server certificate is issued from it
    port: int = DEFAULT_PORT
    data_root: str = "/var/lib/dockerkernel-cells"
    exec_root: str = "/run/dockerkernel-cells"
    cgroup_parent: str = "/dockerkernel-cells"
    addresses: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()

    @property
    def tls_dir(self) -> str:
        """Where the server certificate goes (inside the exec-root: re-issued every start)."""
        return f"{self.exec_root}/tls"

    @property
    def pidfile(self) -> str:
        """The celld's pid file (never the main daemon's /var/run/docker.pid)."""
        return f"{self.exec_root}/dockerd.pid"

    @property
    def config_file(self) -> str:
        """Its own daemon.json, so /etc/docker/daemon.json of the main daemon does not apply."""
        return f"{self.exec_root}/daemon.json"

    def argv(self) -> list[str]:
        """The dockerd command line."""
        tls = self.tls_dir
        return [
            "dockerd",
            f"--host=tcp://0.0.0.0:{self.port}",
            "--tlsverify",
            f"--tlscacert={tls}/ca.pem",
            f"--tlscert={tls}/cert.pem",
            f"--tlskey={tls}/key.pem",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.pidfile}",
            f"--config-file={self.config_file}",
            f"--cgroup-parent={self.cgroup_parent}",
            # cells run with network none; the node's main daemon owns bridges and netfilter
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            *self.extra_args,
        ]

    def prepare(self) -> None:
        """Issue the server certificate (node name + addresses) and write the config file."""
        addresses = list(self.addresses) or node_addresses()
        Path(self.exec_root).mkdir(parents=True, exist_ok=True)
        Path(self.data_root).mkdir(parents=True, exist_ok=True)
        issue(self.ca_root, self.tls_dir, self.name, "serverAuth", server_sans(self.name, addresses))
        Path(self.config_file).write_text("{}\n")
        # a stale pid file from an unclean stop makes dockerd refuse to start
        Path(self.pidfile).unlink(missing_ok=True)

    def host(self, address: str = "127.0.0.1") -> str:
        """The DOCKER_HOST that reaches this celld at ``address``."""
        return f"tcp://{address}:{self.port}"


def run_celld(celld: Celld, wait: float = 60.0) -> int:
    """Prepare and run the celld in the foreground until it exits; its exit status.

    Waits up to ``wait`` seconds for it to answer a mutual-TLS ``/_ping`` (with the cluster's
    client certificate) and prints ``celld NAME ready``. Raises ``NodeError`` when it exits or
    does not answer in time.
    """
    celld.prepare()
    process = subprocess.Popen(celld.argv())
    client_dir = str(Path(celld.ca_root) / "client")
    deadline = time.monotonic() + wait
    while True:
        if process.poll() is not None:
            raise NodeError(f"the celld (dockerd) exited with status {process.returncode} during start-up")
        try:
            ping(celld.host(), client_dir, timeout=2)
            break
        except NodeError:
            if time.monotonic() > deadline:
                process.terminate()
                raise NodeError(f"the celld did not answer on port {celld.port} within {wait:.0f} s") from None
            time.sleep(0.3)
    print(f"celld {celld.name} ready on {celld.host('0.0.0.0')}", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


# ---------------------------------------------------------------------------- talking to a celld


def _tls_context(cert_path: str) -> ssl.SSLContext:
    """Mutual TLS with the cluster CA (never the system store: the daemon has its own CA)."""
    d = Path(cert_path)
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(d / "ca.pem"))
        context.load_cert_chain(str(d / "cert.pem"), str(d / "key.pem"))
    except (OSError, ssl.SSLError) as exc:
        raise NodeError(f"cannot read the client certificate in {cert_path}: {exc}") from None
    return context


def _request(host: str, cert_path: str | None, path: str, timeout: float = 10) -> bytes:
    """GET ``path`` from the daemon at ``host`` (tcp://H:P with TLS from cert_path, or unix://)."""
    url = urllib.parse.urlparse(host)
    if url.scheme == "unix":
        conn: http.client.HTTPConnection = _UnixConnection(url.path, timeout)
    elif url.scheme == "tcp" and cert_path:
        conn = http.client.HTTPSConnection(url.hostname, url.port or DEFAULT_PORT, timeout=timeout,
                                           context=_tls_context(cert_path))
    elif url.scheme == "tcp":
        conn = http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout)
    else:
        raise NodeError(f"unsupported daemon address {host!r} (tcp://HOST:PORT or unix:///PATH)")
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise NodeError(f"{host} does not answer {path}: {exc}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise NodeError(f"{host} answered {path} with HTTP {response.status}: {body[:200]!r}")
    return body


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the node's main daemon)."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _environment_host() -> tuple[str, str | None]:
    """DOCKER_HOST and, when DOCKER_TLS_VERIFY is set, DOCKER_CERT_PATH (as the docker CLI)."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    tls = os.environ.get("DOCKER_TLS_VERIFY") and (os.environ.get("DOCKER_CERT_PATH") or str(Path.home() / ".docker"))
    return host, tls or None


def ping(host: str, cert_path: str | None, timeout: float = 5) -> None:
    """Raise ``NodeError`` unless the daemon at ``host`` answers ``/_ping`` with OK."""
    if _request(host, cert_path, "/_ping", timeout).strip() != b"OK":
        raise NodeError(f"{host} answered /_ping with something other than OK")


def status(host: str, cert_path: str | None, prefix: str | None = None) -> dict:
    """The node's state as seen through its daemon.

    Returns ``{"host", "name", "id", "version", "cpus", "memory_bytes", "images": {ref: id},
    "containers": int, "kernels": [kernel ids], "volumes": int}``: ``images`` are the language
    images (``prefix``, default DOCKERKERNEL_IMAGE_PREFIX), ``containers``/``volumes`` those
    labelled by a kernel. Raises ``NodeError``.
    """
    if prefix is None:
        prefix = os.environ.get("DOCKERKERNEL_IMAGE_PREFIX", "dockerkernel/")
    info = json.loads(_request(host, cert_path, "/info"))
    label = urllib.parse.quote(json.dumps({"label": [LABEL_KERNEL]}))
    images = json.loads(_request(host, cert_path, "/images/json"))
    containers = json.loads(_request(host, cert_path, f"/containers/json?all=1&filters={label}"))
    volumes = json.loads(_request(host, cert_path, f"/volumes?filters={label}")).get("Volumes") or []
    ours = {
        ref: image["Id"] for image in images for ref in image.get("RepoTags") or [] if ref.startswith(prefix)
    }
    return {
        "host": host,
        "name": info.get("Name"),
        "id": info.get("ID"),
        "version": info.get("ServerVersion"),
        "cpus": info.get("NCPU"),
        "memory_bytes": info.get("MemTotal"),
        "images": dict(sorted(ours.items())),
        "containers": len(containers),
        "kernels": sorted({c["Labels"].get(LABEL_KERNEL, "") for c in containers}),
        "volumes": len(volumes),
    }


# ---------------------------------------------------------------------------- images without a registry


def docker_client_for(host: str | None, cert_path: str | None):
    """A docker SDK client for ``host`` (None: from the environment, as the kernels do).

    Goes through ``sandbox.connection.docker_client``, which verifies a TLS daemon against its
    own CA even where REQUESTS_CA_BUNDLE is set. Raises ``DaemonUnavailable``.
    """
    from .sandbox.connection import Endpoint, connect, docker_client

    if host is None:
        return connect(timeout=600)
    tls_dir = cert_path if host.startswith("tcp://") else None
    return docker_client(timeout=600, endpoint=Endpoint(base_url=host, tls_dir=tls_dir, source="--host"))


def image_refs(languages: list[str]) -> list[str]:
    """The image names of these languages (``base`` is the shared base layer)."""
    from .languages import IMAGE_PREFIX, get_language

    return [f"{IMAGE_PREFIX}{n if n == 'base' else get_language(n).name}:latest" for n in languages]


def export_images(source, refs: list[str], path: str) -> int:
    """``docker save`` of ``refs`` from the client ``source`` into the tar ``path``; its bytes."""
    size = 0
    with open(path, "wb") as out:
        for chunk in source.api.get_image(refs[0]) if len(refs) == 1 else _save_many(source, refs):
            out.write(chunk)
            size += len(chunk)
    return size


def _save_many(client, refs: list[str]):
    """One tar for several images (the API's ``/images/get?names=…``)."""
    query = "&".join("names=" + urllib.parse.quote(r) for r in refs)
    response = client.api._get(client.api._url("/images/get") + "?" + query, stream=True)
    client.api._raise_for_status(response)
    yield from response.iter_content(1 << 20)


def load_images(target, path: str) -> list[str]:
    """``docker load`` of the tar ``path`` into the client ``target``; the loaded references."""
    with open(path, "rb") as tar:
        loaded = target.images.load(tar)
    return sorted(tag for image in loaded for tag in image.tags)


def sync_images(source, target, refs: list[str]) -> dict[str, str]:
    """Copy each of ``refs`` the target lacks (or has with another ID). ``{ref: "copied"|"current"}``.

    The image ID survives save/load, so equal IDs mean equal content.
    """
    import docker.errors

    result = {}
    missing = []
    for ref in refs:
        want = source.api.inspect_image(ref)["Id"]
        try:
            have = target.api.inspect_image(ref)["Id"]
        except docker.errors.ImageNotFound:
            have = ""
        if have == want:
            result[ref] = "current"
        else:
            missing.append(ref)
    if missing:
        with tempfile.TemporaryDirectory() as tmp:
            tar = os.path.join(tmp, "images.tar")
            export_images(source, missing, tar)
            load_images(target, tar)
        result.update(dict.fromkeys(missing, "copied"))
    return result


# ---------------------------------------------------------------------------- command line


def add_node_commands(sub) -> None:
    """Add ``node …`` to the ``dockerkernel`` parser's subcommands."""
    node = sub.add_parser("node", help="a cluster node's cell daemon: certificates, start, health, status")
    node_sub = node.add_subparsers(dest="node_command", required=True)

    ca = node_sub.add_parser("ca", help="create the cluster CA and the client certificate in DIR")
    ca.add_argument("dir")

    celld = node_sub.add_parser("celld", help="issue this node's server certificate and run its cell daemon")
    celld.add_argument("--ca", required=True, help="the cluster CA directory (from `node ca`)")
    celld.add_argument("--name", default=socket.gethostname(), help="the node's name (default: hostname)")
    celld.add_argument(
        "--address", action="append", default=[], help="an IP for the certificate (default: the hostname's)"
    )
    celld.add_argument("--port", type=int, default=DEFAULT_PORT)
    celld.add_argument("--data-root", default=Celld.data_root)
    celld.add_argument("--exec-root", default=Celld.exec_root)
    celld.add_argument("--cgroup-parent", default=Celld.cgroup_parent)
    celld.add_argument("--wait", type=float, default=60, help="seconds to wait for it to answer")
    celld.add_argument("dockerd_args", nargs="*", help="extra dockerd flags (after --)")

    for name, text in (("health", "exit 0 when the daemon answers /_ping"), ("status", "the node's state")):
        cmd = node_sub.add_parser(name, help=text)
        cmd.add_argument("--host", help="tcp://NODE:2376 (default: DOCKER_HOST)")
        cmd.add_argument("--cert-path", help="client certificate directory (default: DOCKER_CERT_PATH)")
        if name == "status":
            cmd.add_argument("--json", action="store_true")
    node.set_defaults(func=cmd_node)


def add_image_transfer_commands(images_sub) -> None:
    """Add ``images export|load|sync`` to the ``dockerkernel images`` subcommands."""
    export = images_sub.add_parser("export", help="docker save the language images into one tar")
    export.add_argument("languages", nargs="+", help="languages (base: the base layer)")
    export.add_argument("-o", "--output", required=True)
    load = images_sub.add_parser("load", help="docker load a tar into a daemon (a node's celld)")
    load.add_argument("file")
    sync = images_sub.add_parser("sync", help="copy the language images a daemon lacks, from the current one")
    sync.add_argument("languages", nargs="+")
    for cmd in (load, sync):
        cmd.add_argument("--host", action="append", required=True, help="tcp://NODE:2376 (repeatable)")
        cmd.add_argument("--cert-path", help="client certificate directory (default: DOCKER_CERT_PATH)")


def cmd_images_transfer(args) -> int:
    """``images export|load|sync``."""
    if args.images_command == "export":
        size = export_images(docker_client_for(None, None), image_refs(args.languages), args.output)
        print(f"wrote {args.output} ({size / 1e6:.0f} MB)")
        return 0
    cert_path = args.cert_path or os.environ.get("DOCKER_CERT_PATH")
    source = docker_client_for(None, None) if args.images_command == "sync" else None
    for host in args.host:
        target = docker_client_for(host, cert_path)
        name = target.info().get("Name")
        if args.images_command == "load":
            print(f"{name} ({host}): loaded {' '.join(load_images(target, args.file))}")
        else:
            for ref, state in sync_images(source, target, image_refs(args.languages)).items():
                print(f"{name} ({host}): {ref} {state}")
    return 0


def cmd_node(args) -> int:
    """``node ca|celld|health|status``."""
    if args.node_command == "ca":
        root = make_ca(args.dir)
        print(f"cluster CA in {root / 'ca'}; client certificate in {root / 'client'} (DOCKER_CERT_PATH)")
        return 0
    if args.node_command == "celld":
        celld = Celld(
            name=args.name, ca_root=args.ca, port=args.port, data_root=args.data_root, exec_root=args.exec_root,
            cgroup_parent=args.cgroup_parent, addresses=tuple(args.address), extra_args=tuple(args.dockerd_args),
        )
        return run_celld(celld, args.wait)
    env_host, env_certs = _environment_host()
    host = args.host or env_host
    cert_path = args.cert_path or env_certs
    if args.node_command == "health":
        ping(host, cert_path)
        return 0
    state = status(host, cert_path)
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    print(f"node {state['name']} ({state['id']}) at {host}: Docker {state['version']}, "
          f"{state['cpus']} CPUs, {state['memory_bytes'] / 2**30:.1f} GiB")
    for ref, image_id in state["images"].items():
        print(f"  image {ref} {image_id[:19]}")
    print(f"  kernel objects: {state['containers']} container(s) of {len(state['kernels'])} kernel(s), "
          f"{state['volumes']} volume(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dockerkernel.node …`` (the node commands without the rest of the CLI)."""
    parser = argparse.ArgumentParser(prog="python -m dockerkernel.node")
    sub = parser.add_subparsers(dest="command", required=True)
    add_node_commands(sub)
    args = parser.parse_args(["node", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.func(args)
    except DockerKernelError as exc:
        print(f"dockerkernel node: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
