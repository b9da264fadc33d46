"""DockerKernel's execute path without Jupyter or Docker: magics, %%LANG switches, what reaches the sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from dockerkernel.errors import MagicError
from dockerkernel.kernel import DockerKernel
from dockerkernel.languages import get_language
from dockerkernel.magics import SessionSettings


class Stub:
    """The parts of DockerKernel that ``_execute`` uses; the cell is recorded, not run."""

    polyglot = False
    _switch_magics = DockerKernel._switch_magics
    _split_magics = DockerKernel._split_magics
    _apply_line_magic = DockerKernel._apply_line_magic

    def __init__(self, language):
        self.settings = SessionSettings(language)
        self.streams: list = []
        self.ran: list = []

    @property
    def lang(self):
        return self.settings.language

    def _send_stream(self, name, text):
        self.streams.append((name, text))

    async def _run_cell(self, source, silent, allow_stdin, lang):
        self.ran.append((lang.name, source.decode()))
        return {"status": "ok"}

    def _ok(self):
        return {"status": "ok"}

    def _error(self, ename, evalue, traceback=None):
        return {"status": "error", "ename": ename}


def execute(stub: Stub, code: str) -> dict:
    return asyncio.run(DockerKernel._execute(stub, code, False, False))


def test_magics_change_settings_and_keep_line_numbers():
    stub = Stub(get_language("python"))
    execute(stub, "%timeout 5\n%limits\nprint(1)")
    assert stub.settings.limits.timeout == 5
    assert stub.ran == [("python", "\n\nprint(1)")]
    assert stub.streams and "timeout" in stub.streams[0][1]


def test_a_cell_switch_runs_the_cell_in_that_language():
    stub = Stub(get_language("python"))
    execute(stub, "%%ruby\nputs 1")
    assert stub.ran == [("ruby", "\nputs 1")]
    stub = Stub(get_language("c"))
    execute(stub, "%%bash\n%timeout 7\necho hi")  # a switched cell's own line magics apply
    assert stub.ran == [("bash", "\n\necho hi")] and stub.settings.limits.timeout == 7


def test_in_docker_python_bash_and_javascript_cells_are_ipythons():
    stub = Stub(get_language("python"))
    execute(stub, "%%bash\necho hi")
    assert stub.ran == [("python", "%%bash\necho hi")]


def test_an_unknown_magic_is_a_usage_error():
    with pytest.raises(MagicError):
        execute(Stub(get_language("bash")), "%nosuch 1\necho 1")


def test_magics_in_container_leaves_ipythons_magics_to_the_interpreter():
    stub = Stub(replace(get_language("python"), magics_in_container=True))
    execute(stub, "%timeout 5\n%matplotlib inline\n%%time\nx = 1")
    assert stub.settings.limits.timeout == 5
    assert stub.ran == [("python", "\n%matplotlib inline\n%%time\nx = 1")]


def test_python_runs_ipythons_magics_in_the_container():
    assert get_language("python").magics_in_container is True
