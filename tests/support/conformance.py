"""The shared base of the ``jupyter_kernel_test`` classes (one per kernelspec, in tests/kernel)."""

from __future__ import annotations

import os

import jupyter_kernel_test as jkt
from jupyter_client.kernelspec import KernelSpecManager

# The first cell of a kernel may have to create its workspace volume and wait for the pool;
# jupyter_kernel_test's 15 s is tight on a loaded 2-core machine. These are no-hang bounds.
TIMEOUT = 60
jkt.TIMEOUT = TIMEOUT  # read at call time by test_kernel_info


class DockerKernelTests(jkt.KernelTests):
    """Shared parts: every kernel here is a dockerkernel."""

    __test__ = False  # the base itself has no kernel_name of ours

    # Nothing to page, inspect or recall: these would only skip.
    test_pager = None
    test_inspect = None
    test_history = None

    def execute_helper(self, code, timeout=TIMEOUT, **kwargs):
        """The inherited helper with our bound (its default was fixed at 15 s when defined)."""
        return super().execute_helper(code, timeout=timeout, **kwargs)

    def execute(self, code: str):
        """Run ``code``; return (reply, iopub output messages)."""
        self.flush_channels()
        return self.execute_helper(code)

    def test_kernelspec_is_from_this_checkout(self):
        """setUpClass started the kernelspec installed by conftest (JUPYTER_PATH was already set).

        Another copy may be installed in sys.prefix or ~/.local; the one in the test prefix
        must win, or these tests would exercise a stale kernel.json.
        """
        started = self.km.kernel_spec.resource_dir
        prefixes = [p for p in os.environ["JUPYTER_PATH"].split(os.pathsep) if p]
        assert any(os.path.commonpath([started, p]) == p for p in prefixes), (started, prefixes)
        assert KernelSpecManager().get_kernel_spec(self.kernel_name).resource_dir == started
        assert self.km.kernel_spec.argv[1:3] == ["-m", "dockerkernel"]

    def test_kernel_info_language_version(self):
        """language_info carries the version read from the image, and a lexer."""
        self.flush_channels()
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=TIMEOUT)
        info = reply["content"]["language_info"]
        assert info["name"] == self.language_name
        assert info["version"] and info["version"][0].isdigit(), info
        assert info["pygments_lexer"]
        assert reply["content"]["implementation"] == "dockerkernel"

    def test_error_is_one_named_error_message(self):
        """The error sample gives exactly one ``error`` message, with the expected name."""
        reply, output = self.execute(self.code_generate_error)
        assert reply["content"]["status"] == "error"
        errors = [m for m in output if m["msg_type"] == "error"]
        assert len(errors) == 1, output
        assert errors[0]["content"]["ename"] == self.error_name
        assert reply["content"]["ename"] == self.error_name
        assert errors[0]["content"]["traceback"]

    def test_next_cell_runs_after_error(self):
        """An error does not break the kernel: the following cell runs normally."""
        reply, _ = self.execute(self.code_generate_error)
        assert reply["content"]["status"] == "error"
        reply, output = self.execute(self.code_hello_world)
        assert reply["content"]["status"] == "ok"
        assert "hello, world" in "".join(m["content"].get("text", "") for m in output if m["msg_type"] == "stream")

    def test_workspace_file_is_completed(self):
        """A file written to /workspace by a cell is offered by completion afterwards."""
        reply, _ = self.execute(self.code_write_zebra)
        assert reply["content"]["status"] == "ok"
        self.kc.complete("zebra_n")
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        assert "zebra_notes.txt" in reply["content"]["matches"]
        assert reply["content"]["cursor_start"] == 0
        assert reply["content"]["cursor_end"] == len("zebra_n")

    def test_magic_completion(self):
        """Magics are completed in every language."""
        self.kc.complete("%lim")
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        assert reply["content"]["matches"] == ["%limits"]
