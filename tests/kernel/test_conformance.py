"""Kernel conformance: one ``jupyter_kernel_test.KernelTests`` subclass per kernelspec.

The kernels start through jupyter_client's KernelSpecManager, so they must find this
checkout's kernelspecs: the session-scoped autouse ``installed_kernelspecs`` fixture of
conftest.py installs them and sets ``JUPYTER_PATH`` before any class-scoped ``setUpClass``
runs (pytest instantiates session fixtures first); ``test_kernelspec_is_from_this_checkout``
proves it. Inherited tests that have nothing to check for a kernel (pager; inspect and history but
in docker-python,
and ``execute_result`` for JavaScript and Bash) are removed rather than left to skip.
"""

from __future__ import annotations

import re

import jupyter_kernel_test as jkt
import pytest

from tests.support.conformance import TIMEOUT, DockerKernelTests

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

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



    # completion and inspection from the session's state (IPython, in a container); history
    # from the kernel's record
    code_inspect_sample = "zip"
    code_history_pattern = "1?2"
    supported_history_operations = ("tail", "range", "search")
    test_inspect = jkt.KernelTests.test_inspect
    test_history = jkt.KernelTests.test_history

    def test_inspect_gives_signature_and_docstring_as_text(self):
        """Shift-Tab on a function defined by an earlier cell: its signature and docstring."""
        reply, _ = self.execute('def area(width, height=2):\n    """Width times height."""\n    return width * height')
        assert reply["content"]["status"] == "ok"
        self.flush_channels()
        self.kc.inspect("area(", 5)
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        content = reply["content"]
        assert content["status"] == "ok" and content["found"], content
        text = re.sub(r"\x1b\[[0-9;]*m", "", content["data"]["text/plain"])
        assert "area(width, height=2)" in text and "Width times height." in text, text

    def test_completion_of_a_name_from_an_earlier_cell(self):
        reply, _ = self.execute("mylist = [3, 1]")
        assert reply["content"]["status"] == "ok"
        self.kc.complete("mylist.app")
        reply = self.get_non_kernel_info_reply(timeout=TIMEOUT)
        content = reply["content"]
        assert ["mylist.app"[: content["cursor_start"]] + m for m in content["matches"]] == ["mylist.append"], content

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
