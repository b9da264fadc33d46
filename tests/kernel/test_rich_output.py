"""Rich output through the real kernel — display_data, updates, clear_output, results.

Python (``IPython.display`` names, matplotlib, ``_repr_*_``, pandas), Bash (the ``display``
command), JavaScript (the ``display`` global) and C (writes a file, a ``%%bash`` cell shows
it). A progress display is shown to update *while* the cell runs. The side channel survives
a 50 MiB frame, 200 KiB of random bytes and look-alike bytes, and the next cell is fine.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import random
import time

import pytest

from tests.support import assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# a valid 2x2 red PNG
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=="
SVG = "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><circle cx='5' cy='5' r='4'/></svg>"

def displays(result) -> list[dict]:
    """The data of each display_data message, in order."""
    return [m["content"]["data"] for m in result.of_type("display_data")]


def pngs(result) -> list[bytes]:
    found = []
    for msg in result.of_type("display_data") + result.of_type("execute_result"):
        if "image/png" in msg["content"]["data"]:
            found.append(base64.b64decode(msg["content"]["data"]["image/png"]))
    return found


# ---- Python: display() and the IPython.display classes -------------------------------------------------


def test_python_display_every_mime_type(py):
    code = (
        "import base64\n"
        "from IPython.display import HTML, Markdown, Image, JSON, Latex, SVG\n"
        "display(HTML('<b>bold</b>'))\n"
        "display(Markdown('# Title'))\n"
        f"display(Image(base64.b64decode('{PNG_B64}')))\n"
        "display(JSON({'a': [1, 2], 'b': None}))\n"
        "display(Latex(r'$\\alpha^2$'))\n"
        f'display(SVG("{SVG}"))\n'
    )
    result = py.run(code)
    assert_ok(result)
    data = displays(result)
    assert [sorted(set(d) - {"text/plain"}) for d in data] == [
        ["text/html"], ["text/markdown"], ["image/png"], ["application/json"], ["text/latex"], ["image/svg+xml"],
    ], data
    assert data[0]["text/html"] == "<b>bold</b>"
    assert data[1]["text/markdown"] == "# Title"
    # IPython's Image may end its base64 with a newline, as in a real IPython kernel
    assert base64.b64decode(data[2]["image/png"]) == base64.b64decode(PNG_B64)
    assert data[3]["application/json"] == {"a": [1, 2], "b": None}
    assert data[4]["text/latex"] == r"$\alpha^2$"
    # IPython's SVG re-serializes the markup (double quotes): the same document
    assert data[5]["image/svg+xml"].replace('"', "'") == SVG
    assert not result.stream()


def test_python_display_of_an_object_with_repr_methods(py):
    code = (
        "class Card:\n"
        "    def _repr_html_(self): return '<div>card</div>'\n"
        "    def _repr_markdown_(self): return '*card*'\n"
        "    def __repr__(self): return 'Card()'\n"
        "display(Card())"
    )
    result = py.run(code)
    assert_ok(result)
    (data,) = displays(result)
    assert data == {"text/html": "<div>card</div>", "text/markdown": "*card*", "text/plain": "Card()"}


def test_update_display_through_a_handle_and_by_id(py):
    code = (
        "from IPython.display import HTML, update_display\n"
        "h = display(HTML('<b>1</b>'), display_id=True)\n"
        "h.update(HTML('<b>2</b>'))\n"
        "display(HTML('<i>a</i>'), display_id='fixed-id')\n"
        "update_display(HTML('<i>b</i>'), display_id='fixed-id')\n"
    )
    result = py.run(code)
    assert_ok(result)
    shown = result.of_type("display_data")
    updated = result.of_type("update_display_data")
    assert len(shown) == 2 and len(updated) == 2, [m["msg_type"] for m in result.messages]
    handle_id = shown[0]["content"]["transient"]["display_id"]
    assert handle_id
    assert updated[0]["content"]["transient"]["display_id"] == handle_id
    assert updated[0]["content"]["data"]["text/html"] == "<b>2</b>"
    assert shown[1]["content"]["transient"]["display_id"] == "fixed-id"
    assert updated[1]["content"]["transient"]["display_id"] == "fixed-id"
    assert updated[1]["content"]["data"]["text/html"] == "<i>b</i>"
    # updates come in the order the program sent them
    order = [m["msg_type"] for m in result.messages]
    assert order == ["display_data", "update_display_data", "display_data", "update_display_data"], order


def test_clear_output_in_order_with_the_streams(py):
    code = (
        "from IPython.display import clear_output\n"
        "print('before')\nclear_output()\nprint('after')\nclear_output(wait=True)\nprint('last')"
    )
    result = py.run(code)
    assert_ok(result)
    events = [
        (m["msg_type"], m["content"].get("text") if m["msg_type"] == "stream" else m["content"].get("wait"))
        for m in result.messages
    ]
    assert events == [
        ("stream", "before\n"), ("clear_output", False), ("stream", "after\n"), ("clear_output", True),
        ("stream", "last\n"),
    ], events


def run_with_answers(handle, code: str, on_input, timeout: float = 120):
    """Execute with allow_stdin; ``on_input(request, iopub_so_far, drain)`` answers each request."""
    kc = handle.kc
    msg_id = kc.execute(code, allow_stdin=True)
    iopub: list = []
    deadline = time.monotonic() + timeout

    def take(wait: float) -> None:
        try:
            msg = kc.get_iopub_msg(timeout=wait)
        except queue.Empty:
            return
        if msg["parent_header"].get("msg_id") == msg_id:
            iopub.append(msg)

    def idle() -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in iopub)

    while not idle():
        assert time.monotonic() < deadline, "the cell did not end"
        try:
            request = kc.get_stdin_msg(timeout=0.05)
        except queue.Empty:
            request = None
        if request is not None:
            on_input(request, iopub, take)
        take(0.05)
    while True:
        reply = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 1))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply, [m for m in iopub if m["msg_type"] not in ("status", "execute_input")]


def test_progress_display_updates_while_the_cell_runs(py):
    """The updates reach the frontend while the program still runs, not at its end.

    The cell updates a progress bar five times over ~2 s and then waits for an answer to
    ``input()``: it cannot end before the test answers, so updates received before the
    answer were relayed live.
    """
    code = (
        "import time\nfrom IPython.display import HTML\n"
        "bar = display(HTML(\"<progress value='0' max='5'></progress>\"), display_id=True)\n"
        "for i in range(1, 6):\n"
        "    time.sleep(0.4)\n"
        "    bar.update(HTML(f\"<progress value='{i}' max='5'></progress>\"))\n"
        "print('answer:', input('done? '))\n"
    )
    seen_before_answer = []

    prompts = []

    def answer(request, iopub, take):
        prompts.append(request["content"]["prompt"])
        deadline = time.monotonic() + 20  # no-hang bound for the iopub socket to catch up
        while sum(m["msg_type"] == "update_display_data" for m in iopub) < 5 and time.monotonic() < deadline:
            take(0.1)
        seen_before_answer.extend(m for m in iopub if m["msg_type"] == "update_display_data")
        py.kc.input("yes")

    reply, messages = run_with_answers(py, code, answer)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert prompts == ["done? "]
    assert len(seen_before_answer) == 5, [m["msg_type"] for m in messages]
    bar_id = next(m for m in messages if m["msg_type"] == "display_data")["content"]["transient"]["display_id"]
    assert {m["content"]["transient"]["display_id"] for m in seen_before_answer} == {bar_id}
    assert [m["content"]["data"]["text/html"] for m in seen_before_answer] == [
        f"<progress value='{i}' max='5'></progress>" for i in range(1, 6)
    ]
    assert "answer: yes\n" in "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


# ---- matplotlib -----------------------------------------------------------------------------------------


def test_matplotlib_figure_without_show_is_shown_at_the_end(py):
    result = py.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nprint('plotted')")
    assert_ok(result, "plotted\n")
    images = pngs(result)
    assert len(images) == 1 and images[0].startswith(PNG_SIGNATURE)
    # at the end of the cell: after the cell's own output
    types = [m["msg_type"] for m in result.messages if m["content"].get("name") != "stderr"]
    assert types.index("display_data") > types.index("stream"), types


def test_matplotlib_two_open_figures_are_both_shown(py):
    result = py.run(
        "import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1, 2])\nplt.figure(); plt.plot([2, 1])\nNone"
    )
    assert_ok(result)
    assert len(pngs(result)) == 2


def test_matplotlib_show_displays_once_where_it_is_called(py):
    result = py.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint('after show')")
    assert_ok(result, "after show\n")
    images = pngs(result)
    assert len(images) == 1 and images[0].startswith(PNG_SIGNATURE)
    # (stderr notices, e.g. about state, are not this test's business)
    types = [m["msg_type"] for m in result.messages if m["content"].get("name") != "stderr"]
    assert types == ["display_data", "stream"], types


def test_matplotlib_inline_magic_is_accepted(py):
    assert_ok(py.run("%matplotlib inline"))
    result = py.run("%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2])\nplt.show()")
    assert_ok(result)
    assert len(pngs(result)) == 1


# ---- execute_result ------------------------------------------------------------------------------------------


def test_trailing_expression_is_an_execute_result_with_the_out_count(py):
    result = py.run("x = 6\nx * 7")
    assert_ok(result)
    (msg,) = result.of_type("execute_result")
    assert msg["content"]["data"]["text/plain"] == "42"
    count = result.reply["content"]["execution_count"]
    assert isinstance(count, int) and count > 0
    assert msg["content"]["execution_count"] == count
    # and the next cell's Out number is the next one
    nxt = py.run("'abc'")
    (msg,) = nxt.of_type("execute_result")
    assert msg["content"]["data"]["text/plain"] == "'abc'"
    assert msg["content"]["execution_count"] == count + 1 == nxt.reply["content"]["execution_count"]


def test_no_execute_result_for_none_or_a_statement(py):
    for code in ("x = 1", "None", "print('p')"):
        result = py.run(code)
        assert_ok(result)
        assert not result.of_type("execute_result"), code


def test_execute_result_uses_repr_html_and_repr_png(py):
    code = (
        "import base64\n"
        "class Rich:\n"
        "    def _repr_html_(self): return '<i>rich</i>'\n"
        f"    def _repr_png_(self): return base64.b64decode('{PNG_B64}')\n"
        "    def __repr__(self): return 'Rich()'\n"
        "Rich()"
    )
    result = py.run(code)
    assert_ok(result)
    (msg,) = result.of_type("execute_result")
    data = msg["content"]["data"]
    assert data["text/html"] == "<i>rich</i>"
    assert data["image/png"] == PNG_B64
    assert data["text/plain"] == "Rich()"


def test_pandas_dataframe_is_an_html_table(py):
    result = py.run("import pandas as pd\npd.DataFrame({'name': ['ada', 'bob'], 'n': [1, 2]})")
    assert_ok(result)
    (msg,) = result.of_type("execute_result")
    data = msg["content"]["data"]
    assert "<table" in data["text/html"] and "ada" in data["text/html"]
    assert "name" in data["text/plain"] and "bob" in data["text/plain"]


# ---- other languages -------------------------------------------------------------------------------------------


def test_bash_display_command(bash):
    html = bash.run("echo '<p>hi <b>bash</b></p>' > page.html\ndisplay --html page.html")
    assert_ok(html)
    assert displays(html) == [{"text/html": "<p>hi <b>bash</b></p>\n", "text/plain": "<text/html page.html>"}]
    image = bash.run(f"echo {PNG_B64} | base64 -d > img.png\ndisplay img.png")
    assert_ok(image)
    (data,) = displays(image)
    assert data["image/png"] == PNG_B64
    markdown = bash.run("printf '# Title\\n\\n*it*\\n' > notes.md\ndisplay --markdown notes.md")
    assert_ok(markdown)
    (data,) = displays(markdown)
    assert data["text/markdown"] == "# Title\n\n*it*\n"


def test_bash_display_updates_by_id(bash):
    result = bash.run("display --id progress --text 0\nfor i in 1 2 3; do display --update progress --text $i; done")
    assert_ok(result)
    (shown,) = result.of_type("display_data")
    updates = result.of_type("update_display_data")
    assert shown["content"]["transient"]["display_id"] == "progress"
    assert [u["content"]["data"]["text/plain"] for u in updates] == ["1", "2", "3"]
    assert {u["content"]["transient"]["display_id"] for u in updates} == {"progress"}


def test_javascript_display_helpers(js):
    result = js.run(
        "display.html('<p>js</p>');\n"
        f"display.png(Buffer.from('{PNG_B64}', 'base64'));\n"
        f'display.svg("{SVG}");\n'
        "display.show('p', {data: {'text/plain': 'step 0'}});\n"
        "display.update('p', {data: {'text/plain': 'step 1'}});\n"
    )
    assert_ok(result)
    data = displays(result)
    assert data[0]["text/html"] == "<p>js</p>"
    assert data[1]["image/png"] == PNG_B64
    assert data[2]["image/svg+xml"] == SVG
    assert data[3]["text/plain"] == "step 0"
    (update,) = result.of_type("update_display_data")
    assert update["content"]["transient"]["display_id"] == "p"
    assert update["content"]["data"]["text/plain"] == "step 1"


def test_c_writes_an_svg_and_a_bash_cell_shows_it(c_kernel):
    written = c_kernel.run(
        f'FILE *f = fopen("x.svg", "w");\nfputs("{SVG}\\n", f);\nfclose(f);\nputs("wrote x.svg");'
    )
    assert_ok(written, "wrote x.svg\n")
    shown = c_kernel.run("%%bash\ndisplay x.svg")
    assert_ok(shown)
    assert displays(shown) == [{"image/svg+xml": SVG + "\n", "text/plain": "<image/svg+xml x.svg>"}]


# ---- the side channel under abuse, through the real kernel ------------------------------------------------------


def test_50_mib_display_frame_is_rejected_clearly(py):
    code = (
        "import os, sys\n"
        "nonce = os.environ['DK_NONCE']\n"
        "sys.stdout.flush()\n"
        "os.write(1, ('\\x1bDK %s display 52428800\\n' % nonce).encode())\n"
        "chunk = b'x' * (1 << 20)\n"
        "for _ in range(50):\n"
        "    view = memoryview(chunk)\n"
        "    while view:\n"
        "        view = view[os.write(1, view):]\n"
        "del view\n"
        "print('after the frame')\n"
    )
    result = py.run(code, timeout=120)
    assert_ok(result, "after the frame\n")
    stderr = result.stream("stderr")
    assert "52428800" in stderr and "frame" in stderr and "dropped" in stderr, stderr
    assert not result.of_type("display_data")
    assert_ok(py.run("print('next cell fine')"), "next cell fine\n")


def test_random_bytes_on_stdout(py):
    """200 KiB of random bytes: the cell ends normally, every byte is accounted for.

    Invalid UTF-8 becomes U+FFFD and NUL becomes U+2400, exactly as decoding the bytes in one
    piece would: nothing else is lost or added, however the stream was split into reads.
    """
    data = random.Random(1234).randbytes(200 * 1024)
    assert b"\x1bDK " not in data  # the seed gives no accidental frame magic
    code = (
        "import hashlib, os, random, sys\n"
        "def spew():\n"
        "    data = random.Random(1234).randbytes(200 * 1024)\n"
        "    view = memoryview(data)\n"
        "    while view:\n"
        "        view = view[os.write(1, view):]\n"
        "    print(hashlib.sha256(data).hexdigest(), file=sys.stderr)\n"
        "spew()\n"
    )
    result = py.run(code, timeout=120)
    assert_ok(result)
    assert result.stream("stderr").strip() == hashlib.sha256(data).hexdigest()  # the same bytes were written
    expected = data.decode("utf-8", "replace").replace("\x00", "\u2400")
    received = result.stream()
    assert len(received) == len(expected)
    assert received == expected
    assert_ok(py.run("print('still fine')"), "still fine\n")


def test_look_alike_bytes_are_output(py):
    code = (
        "import os, sys\n"
        "nonce = os.environ['DK_NONCE']\n"
        "parts = [\n"
        "    '\\x1bDK junk not a frame\\n',\n"
        "    '\\x1bDK ' + 'a' * 32 + ' display 5\\nhello\\n',\n"  # a token that is not this cell's
        "    '\\x1bDK ' + nonce + ' bogus 2\\n{}\\n',\n"  # this cell's nonce, a kind that does not exist
        "    '\\x1bDK \\x1bDK \\n',\n"
        "    'tail \\x1bDK',\n"  # a magic prefix as the very last bytes
        "]\n"
        "sys.stdout.write(''.join(parts))\n"
        "sys.stdout.flush()\n"
        "print(''.join(parts).replace(nonce, 'NONCE'), file=sys.stderr, end='')\n"
    )
    result = py.run(code)
    assert_ok(result)
    expected = (
        "\x1bDK junk not a frame\n" + "\x1bDK " + "a" * 32 + " display 5\nhello\n"
        + "\x1bDK NONCE bogus 2\n{}\n" + "\x1bDK \x1bDK \n" + "tail \x1bDK"
    )
    assert result.stream("stderr").startswith(expected)  # (a state notice may follow)
    stdout = result.stream()
    nonce = stdout.split("\x1bDK ")[3].split(" ")[0]
    assert len(nonce) == 32
    assert stdout.replace(nonce, "NONCE") == expected
    assert not result.of_type("display_data") and not result.of_type("execute_result")


def test_go_rich_output_as_gophernotes_gives_it(module_kernels):
    """gophernotes' display API (examples/Display.ipynb of gopherdata/gophernotes): `display.HTML`
    as a trailing value, `Display(...)` at once, a value whose type has `HTML() string` (an
    HTMLer), PNG bytes; a notebook's own `display` wins over ours."""
    go = module_kernels("docker-go")
    result = assert_ok(go.run('display.HTML(`<h1 style="color:green;">Hello</h1>`)'))
    assert [m["content"]["data"]["text/html"] for m in result.of_type("execute_result")] == [
        '<h1 style="color:green;">Hello</h1>']
    result = assert_ok(go.run('{\n    Display(display.Markdown("* md"))\n'
                              '    Display(display.Math(`e^{i\\pi}+1=0`))\n}'))
    assert [sorted(d) for d in displays(result)] == [["text/markdown", "text/plain"], ["text/latex", "text/plain"]]
    assert displays(result)[1]["text/latex"] == "$$e^{i\\pi}+1=0$$"
    result = assert_ok(go.run('type Banner struct{ who string }\n'
                              'func (b Banner) HTML() string { return "<b>" + b.who + "</b>" }\nBanner{"go"}'))
    assert [m["content"]["data"] for m in result.of_type("execute_result")] == [{"text/html": "<b>go</b>"}]
    result = assert_ok(go.run(f'import "encoding/base64"\npng, _ := base64.StdEncoding.DecodeString("{PNG_B64}")\n'
                              "Display(display.PNG(png))"))
    assert pngs(result)[0].startswith(PNG_SIGNATURE) and not result.of_type("execute_result")
    assert_ok(go.run('import "fmt"\nfunc display(s string) { fmt.Println("mine:", s) }\ndisplay("x")'), "mine: x\n")
