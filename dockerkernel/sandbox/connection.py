"""Reach a Docker daemon the way the docker CLI does: DOCKER_HOST, contexts, TLS, ssh.

Docker side only: this module must not import ipykernel or jupyter_client. It is also the
one boundary where docker and requests exceptions become ``DockerKernelError``s
(``wrap_docker_error``, ``connect``), as docker-py's own ``errors.py`` does for HTTP errors.

``docker_client()`` is a drop-in for ``docker.from_env()`` that also

- honours **docker contexts**: when ``DOCKER_HOST`` is unset, the context named by
  ``DOCKER_CONTEXT``, else ``currentContext`` of ``$DOCKER_CONFIG/config.json`` (default
  ``~/.docker``), gives the host and its TLS material (``docker context create NAME --docker
  host=tcp://H:2376,ca=ca.pem,cert=cert.pem,key=key.pem``); docker-py itself ignores contexts;
- verifies a TLS daemon against **its own CA** (``DOCKER_CERT_PATH/ca.pem`` or the
  context's), even when ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` are set: requests lets
  those override the session's CA, so every TLS connection failed with "unable to get local
  issuer certificate" on machines that set them (docker/docker-py#2433);
- uses the system ``ssh`` client for ``ssh://user@host`` (``docker system dial-stdio`` on the
  remote side, as the CLI does), so no paramiko is needed;
- says clearly what is wrong when the TLS material is missing or refused
  (``explain_connection_error``), instead of requests' nested exception text.

``connect()`` calls ``docker_client()`` and checks that the daemon answers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import ssl
from pathlib import Path

import docker
import docker.errors
import docker.tls
import requests.exceptions

from ..errors import DaemonUnavailable, DockerKernelError, ImageMissing, SandboxError

__all__ = [
    "Endpoint",
    "ConnectionSetupError",
    "docker_config_dir",
    "current_context_name",
    "resolve_endpoint",
    "docker_client",
    "explain_connection_error",
    "client_from_environment",
    "connect",
    "wrap_docker_error",
]

TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


class ConnectionSetupError(DaemonUnavailable):
    """The environment or context names a daemon we cannot even try to reach (e.g. no certs)."""

    def __init__(self, message: str, hint: str = "`dockerkernel doctor` checks the connection."):
        super().__init__(message, hint)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where the daemon is and how to talk to it."""

    base_url: str | None  # None: the SDK default (unix:///var/run/docker.sock)
    tls_dir: str | None = None  # directory with ca.pem, cert.pem, key.pem
    tls_verify: bool = True
    source: str = "default"  # "DOCKER_HOST", "context NAME" or "default"

    def describe(self) -> str:
        """One line for messages: the host, TLS or not, and where that came from."""
        host = self.base_url or "unix:///var/run/docker.sock"
        tls = f", TLS with {self.tls_dir}" if self.tls_dir else ""
        return f"{host} ({self.source}{tls})"


def docker_config_dir() -> Path:
    """The docker CLI's configuration directory ($DOCKER_CONFIG, else ~/.docker)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def current_context_name() -> str:
    """DOCKER_CONTEXT, else config.json's currentContext, else "default" (as the CLI)."""
    name = os.environ.get("DOCKER_CONTEXT", "").strip()
    if name:
        return name
    try:
        config = json.loads((docker_config_dir() / "config.json").read_text())
    except (OSError, ValueError):
        return "default"
    return str(config.get("currentContext") or "default")


def _context_endpoint(name: str) -> Endpoint:
    """Read a context the docker CLI stored (contexts/meta/<sha256(name)>/meta.json)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    base = docker_config_dir() / "contexts"
    meta_path = base / "meta" / digest / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except OSError:
        raise ConnectionSetupError(
            f"docker context {name!r} does not exist (no {meta_path}); "
            "`docker context ls` lists them, `docker context create` makes one"
        ) from None
    except ValueError as exc:
        raise ConnectionSetupError(f"docker context {name!r}: unreadable {meta_path}: {exc}") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host")
    if not host:
        raise ConnectionSetupError(f"docker context {name!r} has no docker endpoint host")
    tls_dir = base / "tls" / digest / "docker"
    has_tls = tls_dir.is_dir() and any((tls_dir / f).is_file() for f in TLS_FILES)
    return Endpoint(
        base_url=host,
        tls_dir=str(tls_dir) if has_tls else None,
        tls_verify=not endpoint.get("SkipTLSVerify", False),
        source=f"context {name}",
    )


def resolve_endpoint() -> Endpoint:
    """Where the CLI would connect: DOCKER_HOST (+TLS variables), else the current context."""
    host = os.environ.get("DOCKER_HOST", "").strip()
    if host:
        verify = os.environ.get("DOCKER_TLS_VERIFY", "") != ""
        cert_path = os.environ.get("DOCKER_CERT_PATH", "").strip() or str(docker_config_dir())
        use_tls = verify or os.environ.get("DOCKER_TLS", "") != ""
        return Endpoint(
            base_url=host,
            tls_dir=cert_path if use_tls else None,
            tls_verify=verify,
            source="DOCKER_HOST",
        )
    name = current_context_name()
    if name == "default":
        return Endpoint(base_url=None)
    return _context_endpoint(name)


def _tls_config(endpoint: Endpoint) -> docker.tls.TLSConfig | None:
    if not endpoint.tls_dir:
        return None
    folder = Path(endpoint.tls_dir)
    wanted = TLS_FILES if endpoint.tls_verify else TLS_FILES[1:]
    missing = [f for f in wanted if not (folder / f).is_file()]
    if missing:
        raise ConnectionSetupError(
            f"TLS to {endpoint.base_url} ({endpoint.source}) needs {', '.join(wanted)} in "
            f"{folder}, but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing. "
            "Copy the daemon's client certificate there (for the compose stack: "
            "`docker cp $(docker-compose ps -q docker):/certs/client DIR` and "
            "DOCKER_CERT_PATH=DIR)"
        )
    return docker.tls.TLSConfig(
        client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")),
        ca_cert=str(folder / "ca.pem") if endpoint.tls_verify else None,
        verify=endpoint.tls_verify,
    )


class _APIClient(docker.APIClient):
    """docker.APIClient whose TLS CA is not overridden by REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        """Keep requests' environment handling (proxies, netrc) but not its CA override."""
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        # self.verify is the daemon's ca.pem when TLS verification is on (a path); requests
        # would replace it by $REQUESTS_CA_BUNDLE for every request that did not pass one.
        if isinstance(self.verify, str) and verify in (None, True):
            settings["verify"] = self.verify
        return settings


def docker_client(timeout: float = 60, endpoint: Endpoint | None = None) -> docker.DockerClient:
    """A DockerClient for the daemon the docker CLI would use (or ``endpoint``); see the module doc."""
    endpoint = endpoint or resolve_endpoint()
    kwargs: dict = {"timeout": timeout, "version": "auto"}
    if endpoint.base_url:
        kwargs["base_url"] = endpoint.base_url
        if endpoint.base_url.startswith("ssh://"):
            kwargs["use_ssh_client"] = True  # the system ssh, with its config and agent
    tls = _tls_config(endpoint)
    if tls is not None:
        kwargs["tls"] = tls
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = _APIClient(**kwargs)
    return client


def explain_connection_error(exc: BaseException, endpoint: Endpoint | None = None) -> str:
    """A one-paragraph diagnosis of a failed connection (TLS problems named precisely)."""
    try:
        endpoint = endpoint or resolve_endpoint()
        where = endpoint.describe()
    except ConnectionSetupError as setup_exc:
        return setup_exc.args[0]
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if isinstance(exc, ConnectionSetupError):
        return " ".join(exc.args[0].split())
    if "certificate verify failed" in lowered or isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname mismatch" in lowered or "doesn't match" in lowered or "ip address mismatch" in lowered:
            return (
                f"{where}: the daemon's certificate does not name this host; connect by a name in "
                "its certificate (for the compose stack: 127.0.0.1, localhost, docker) or add the "
                "name to DIND_TLS_SAN and recreate the docker service"
            )
        return (
            f"{where}: the daemon's certificate is not signed by the CA in ca.pem (wrong or "
            "stale ca.pem: the certificates of another daemon, or of a stack whose volumes were "
            "recreated); copy the current client certificates again"
        )
    if any(s in lowered for s in ("unknown ca", "bad certificate", "certificate required",
                                  "certificate unknown", "handshake failure")):
        return (
            f"{where}: the daemon refused our client certificate (cert.pem/key.pem not signed "
            "by the daemon's CA, or none sent); copy the client certificates of this daemon"
        )
    if "client sent an http request to an https server" in lowered or (
        "connection aborted" in lowered and not endpoint.tls_dir
    ):
        return (
            f"{where}: this daemon only speaks TLS; set DOCKER_TLS_VERIFY=1 and "
            "DOCKER_CERT_PATH to a folder with its ca.pem, cert.pem and key.pem"
        )
    if "wrong version number" in lowered or "record layer failure" in lowered:
        return f"{where}: TLS was used but the daemon answers plain HTTP; unset DOCKER_TLS_VERIFY"
    if "connection refused" in lowered or "no such file" in lowered:
        return f"{where}: nothing listens there (is the daemon running? right port?)"
    return f"{where}: {text}"


def client_from_environment(timeout: float = 60) -> docker.DockerClient:
    """A Docker client as the docker CLI would pick it (see ``docker_client``); does not contact it.

    Raises ``DaemonUnavailable`` (or its ``ConnectionSetupError``) when the environment names
    a daemon that cannot be tried (unknown context, missing certificates).
    """
    try:
        return docker_client(timeout)
    except ConnectionSetupError:
        raise
    except docker.errors.DockerException as exc:  # e.g. a malformed DOCKER_HOST
        raise DaemonUnavailable(explain_connection_error(exc), "`dockerkernel doctor` checks the connection.") from None


def connect(timeout: float = 60) -> docker.DockerClient:
    """A Docker client from the environment (see ``client_from_environment``) that answers a ping.

    Raises ``DaemonUnavailable`` with the diagnosis and the fix.
    """
    client = client_from_environment(timeout)
    try:
        client.api.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DaemonUnavailable(
            f"cannot reach the Docker daemon: {explain_connection_error(exc)}",
            "Start it (for example: bash scripts/ensure-docker.sh) or point DOCKER_HOST / DOCKER_CONTEXT at one; "
            "`dockerkernel doctor` checks the connection.",
        ) from None


def wrap_docker_error(exc: Exception, image: str = "", daemon: str = "") -> DockerKernelError:
    """Translate a docker/requests exception into one of ours, with a fix in the hint.

    ``daemon``: the daemon's name (``docker info`` Name, on a cluster the node) for messages
    that depend on which daemon answered, such as ``ImageMissing``.
    """
    if isinstance(exc, DockerKernelError):
        return exc
    if isinstance(exc, docker.errors.ImageNotFound) or (
        isinstance(exc, docker.errors.APIError) and "No such image" in str(exc)
    ):
        lang = image.split("/", 1)[-1].split(":", 1)[0] if image else ""
        where = f"the Docker daemon of node {daemon}" if daemon else "the Docker daemon"
        fix = f"Build it with: dockerkernel images build {lang}".rstrip()
        if daemon:
            fix += f", or copy it to that node: dockerkernel images sync {lang} --host tcp://{daemon}:2376"
        return ImageMissing(f"image {image} is not on {where}", fix)
    connection_errors = (requests.exceptions.ConnectionError, ConnectionError, docker.errors.DockerException)
    if isinstance(exc, connection_errors) and not isinstance(exc, docker.errors.APIError):
        return DaemonUnavailable(
            f"the Docker daemon does not answer: {exc}",
            "Is dockerd running? `dockerkernel doctor` checks; the kernel retries on the next cell.",
        )
    return SandboxError(f"Docker error: {exc}")
