"""jupyter_kernel_test samples for docker-python's completion, inspection and history (issue 12).

The base class of tests/test_conformance.py removes these three tests (no kernel had them);
docker-python answers them now: completion and inspection from the session's state in a
sandboxed container (IPython's completer and inspector), history from the kernel's record.
"""

from __future__ import annotations

import re

import pytest
import test_conformance as base

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]


class TestDockerPythonIntrospection(base.TestDockerPython):
    """docker-python's conformance class, with inspection and history switched back on."""

    __test__ = True

    # what IPython offers, over names defined by earlier cells too
    completion_samples = [
        {"text": "impo", "matches": {"import"}},
        {"text": "zi", "matches": {"zip"}},
        {"text": "%%writef", "matches": {"%%writefile"}},
        {"text": "%lim", "matches": {"%limits"}},
    ]
    code_inspect_sample = "zip"
    code_history_pattern = "1?2"
    supported_history_operations = ("tail", "range", "search")

    test_inspect = base.jkt.KernelTests.test_inspect
    test_history = base.jkt.KernelTests.test_history

    def test_inspect_gives_signature_and_docstring_as_text(self):
        """Shift-Tab on a function defined by an earlier cell: its signature and docstring."""
        reply, _ = self.execute('def area(width, height=2):\n    """Width times height."""\n    return width * height')
        assert reply["content"]["status"] == "ok"
        self.flush_channels()
        self.kc.inspect("area(", 5)
        reply = self.get_non_kernel_info_reply(timeout=base.TIMEOUT)
        content = reply["content"]
        assert content["status"] == "ok" and content["found"], content
        text = re.sub(r"\x1b\[[0-9;]*m", "", content["data"]["text/plain"])
        assert "area(width, height=2)" in text and "Width times height." in text, text

    def test_completion_of_a_name_from_an_earlier_cell(self):
        reply, _ = self.execute("mylist = [3, 1]")
        assert reply["content"]["status"] == "ok"
        self.kc.complete("mylist.app")
        reply = self.get_non_kernel_info_reply(timeout=base.TIMEOUT)
        content = reply["content"]
        assert ["mylist.app"[: content["cursor_start"]] + m for m in content["matches"]] == ["mylist.append"], content
