"""Kernel conformance: one ``jupyter_kernel_test.KernelTests`` subclass per kernelspec.

The kernels start through jupyter_client's KernelSpecManager, so they must find this
checkout's kernelspecs: the session-scoped autouse ``installed_kernelspecs`` fixture of
conftest.py installs them and sets ``JUPYTER_PATH`` before any class-scoped ``setUpClass``
runs (pytest instantiates session fixtures first); ``test_kernelspec_is_from_this_checkout``
proves it. Inherited tests that have nothing to check for a kernel (pager, inspect, history,
and ``execute_result`` for JavaScript and Bash) are removed rather than left to skip.
"""

from __future__ import annotations

import os

import jupyter_kernel_test as jkt
import pytest
from jupyter_client.kernelspec import KernelSpecManager

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

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


class TestDockerPython(DockerKernelTests):
    __test__ = True
    kernel_name = "docker-python"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'import sys; print("oops", file=sys.stderr)'
    code_generate_error = 'raise ValueError("x")'
    error_name = "ValueError"
    code_write_zebra = 'open("zebra_notes.txt", "w").write("z")'

    completion_samples = [
        {"text": "impo", "matches": {"import"}},
        {"text": "pri", "matches": {"print"}},
        {"text": "x = whi", "matches": {"while"}},
        # IPython's magics and the kernel's own, as IPython completes them
        {"text": "%time", "matches": {"%time", "%timeit", "%%time", "%%timeit", "%timeout"}},
    ]
    complete_code_samples = [
        'print("hi")',
        "x = 1",
        "for i in range(3):\n    print(i)\n",
        "%limits",
        "%timeout 5\nprint(1)",
    ]
    incomplete_code_samples = ["for i in range(3):", "def f(x):", "x = (1,", 'print("""abc']
    invalid_code_samples = ["1 +* 2", 'print("hi"))', "def def"]

    code_execute_result = [
        {"code": "1+2", "result": "3"},
        {"code": "x = 6\nx * 7", "result": "42"},
    ]
    # `display` is a builtin in the cell; the IPython.display classes come from dkdisplay.
    code_display_data = [
        {"code": 'from IPython.display import HTML\ndisplay(HTML("<b>x</b>"))', "mime": "text/html"},
        {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()", "mime": "image/png"},
    ]
    code_clear_output = 'from IPython.display import clear_output\nprint("soon gone")\nclear_output()'

    def test_auto_indented_blank_line_ends_block(self):
        """What jupyter console sends when Enter is pressed on the auto-indented empty line.

        After ``for ...:`` / ``    print(i)`` the console inserts a new line with the indent
        the kernel asked for; Enter on that whitespace-only line must run the block (IPython
        answers complete), otherwise the block can never be finished with Enter.
        """
        self.flush_channels()
        self.check_is_complete("for i in range(3):\n    print(i)\n    ", "complete")

    def test_file_written_with_open_is_intact_in_next_cell(self):
        """The everyday idiom: ``with open(...) as f`` in one cell, read the file in the next.

        The file object ``f`` stays a global (closed); carrying globals to the next cell must
        not reopen it for writing, which would truncate the file the user just wrote.
        """
        reply, _ = self.execute('with open("kept.txt", "w") as f:\n    f.write("data")')
        assert reply["content"]["status"] == "ok"
        reply, output = self.execute('print(repr(open("kept.txt").read()))')
        assert reply["content"]["status"] == "ok"
        assert "".join(m["content"].get("text", "") for m in output if m["msg_type"] == "stream") == "'data'\n"

    def test_html_display_content(self):
        """display(HTML(...)) sends the HTML itself, not a repr."""
        reply, output = self.execute('from IPython.display import HTML\ndisplay(HTML("<b>x</b>"))')
        assert reply["content"]["status"] == "ok"
        displays = [m for m in output if m["msg_type"] == "display_data"]
        assert [d["content"]["data"]["text/html"] for d in displays] == ["<b>x</b>"]

    def test_ipython_display_produces_display_data(self):
        """Notebooks in the wild write ``from IPython.display import HTML, display``.

        DESIGN.md §5: real notebooks are IPython notebooks. IPython is installed in the
        image, so this import works; it must render as display_data, not print a repr.
        """
        reply, output = self.execute('from IPython.display import HTML, display\ndisplay(HTML("<b>x</b>"))')
        assert reply["content"]["status"] == "ok"
        displays = [m for m in output if m["msg_type"] == "display_data"]
        streams = "".join(m["content"].get("text", "") for m in output if m["msg_type"] == "stream")
        assert "IPython.core.display.HTML object" not in streams
        assert [d["content"]["data"].get("text/html") for d in displays] == ["<b>x</b>"]


class TestDockerJavaScript(DockerKernelTests):
    __test__ = True
    kernel_name = "docker-javascript"
    language_name = "javascript"
    file_extension = ".js"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    code_generate_error = 'throw new Error("x")'
    error_name = "Error"
    code_write_zebra = 'require("fs").writeFileSync("zebra_notes.txt", "z")'

    completion_samples = [
        {"text": "fun", "matches": {"function"}},
        {"text": "cons", "matches": {"console", "const"}},
        {"text": "x = awa", "matches": {"await"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        'console.log("hi")',
        "function f() { return 1 }",
        "const a = [1, 2];\n// a comment (with a bracket\n",
        "%limits",
    ]
    incomplete_code_samples = ["function f() {", "const a = [1,", "`abc", "/* open comment"]
    invalid_code_samples = [")", "f(]", '"unterminated']

    # A JavaScript cell has no trailing-expression value: nothing to test, nothing to skip.
    test_execute_result = None
    code_display_data = [
        {"code": 'display.html("<b>x</b>")', "mime": "text/html"},
        {"code": 'display.markdown("# title")', "mime": "text/markdown"},
        {"code": 'display.svg("<svg xmlns=\'http://www.w3.org/2000/svg\'></svg>")', "mime": "image/svg+xml"},
    ]
    code_clear_output = 'console.log("soon gone"); display.clear()'

    def test_type_error_name(self):
        """Node's own exception name comes through (not a generic ExitCode)."""
        reply, output = self.execute("null.x")
        assert reply["content"]["ename"] == "TypeError"
        assert [m["content"]["ename"] for m in output if m["msg_type"] == "error"] == ["TypeError"]


class TestDockerBash(DockerKernelTests):
    __test__ = True
    kernel_name = "docker-bash"
    language_name = "bash"
    file_extension = ".sh"

    code_hello_world = 'echo "hello, world"'
    code_stderr = "echo oops >&2"
    code_generate_error = "exit 3"
    error_name = "ExitCode"
    code_write_zebra = "echo z > zebra_notes.txt"

    completion_samples = [
        {"text": "ech", "matches": {"echo"}},
        {"text": "esa", "matches": {"esac"}},
        {"text": "if true; th", "matches": {"then"}},
        {"text": "%time", "matches": {"%timeout"}},
    ]
    complete_code_samples = [
        "echo hi",
        "for i in 1 2; do echo $i; done",
        "if true; then\n  echo yes\nfi",
        "%limits",
    ]
    incomplete_code_samples = ["for i in 1 2; do", "if true; then", "echo hi \\", "f() {"]
    invalid_code_samples = ["fi", "done", "echo )"]

    test_execute_result = None
    code_display_data = [
        {"code": "echo '<b>x</b>' > x.html\ndisplay --html x.html", "mime": "text/html"},
        {"code": "display --text 'plain words'", "mime": "text/plain"},
    ]
    code_clear_output = "echo soon gone; display --clear"

    def test_unterminated_heredoc_is_incomplete(self):
        """`cat <<EOF` + Enter in jupyter console must ask for the heredoc's lines, not run."""
        self.flush_channels()
        self.check_is_complete("cat <<EOF\nabc", "incomplete")

    def test_unclosed_quote_is_incomplete(self):
        """A string still open at Enter continues on the next line (bash's own PS2 behaviour)."""
        self.flush_channels()
        self.check_is_complete('echo "first line', "incomplete")

    def test_exit_status_in_error(self):
        """The exit status is in the error: `exit 3` says 3."""
        reply, _ = self.execute("exit 3")
        assert reply["content"]["ename"] == "ExitCode"
        assert "3" in reply["content"]["evalue"]
