"""`docker context` names are honoured the way the docker CLI honours them."""

import asyncio
import subprocess

import pytest

from dockerkernel.errors import DaemonUnavailable
from dockerkernel.languages import get_language
from dockerkernel.sandbox import CellRequest, Limits, Output, Sandbox, connect
from tests.support import unique_id

pytestmark = pytest.mark.docker


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A private docker CLI config dir with a context `dk-test` pointing at the local daemon."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    subprocess.run(["docker", "context", "create", "dk-test", "--docker", "host=unix:///var/run/docker.sock"],
                   check=True, capture_output=True,
                   env={"DOCKER_CONFIG": str(tmp_path), "PATH": "/usr/bin:/usr/local/bin:/bin"})
    return tmp_path


def test_docker_context_env_selects_the_daemon(docker_config, monkeypatch, images):
    monkeypatch.setenv("DOCKER_CONTEXT", "dk-test")
    client = connect()
    assert client.api.base_url == "http+docker://localhost"
    language = get_language("bash")
    chunks = []

    async def run():
        sandbox = Sandbox(unique_id(), client=client, pool_size=0)
        try:
            return await sandbox.run(CellRequest(language, b"echo via-context", language.image, Limits()),
                                     lambda e: chunks.append(e.data) if isinstance(e, Output) else None)
        finally:
            await sandbox.close()

    outcome = asyncio.run(run())
    assert outcome.reason == "ok" and b"".join(chunks) == b"via-context\n"


def test_current_context_from_config_json(docker_config, monkeypatch):
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    (docker_config / "config.json").write_text('{"currentContext": "dk-test"}')
    assert connect().version()["ApiVersion"]


def test_unknown_context_is_a_clear_error(docker_config, monkeypatch):
    monkeypatch.setenv("DOCKER_CONTEXT", "no-such-context")
    with pytest.raises(DaemonUnavailable, match="no-such-context"):
        connect()
