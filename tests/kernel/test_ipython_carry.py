"""What IPython keeps in its one process between cells, and a fresh container per cell must carry.

Kinds found by running public notebooks (bench/notebooks): each test is a small notebook of its
own that fails when the carried value behaves differently from a value kept in one IPython
process. Every cell runs in a new container.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.support import assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.images("python")]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


ok = assert_ok  # the cell succeeded (and printed exactly ``stdout``); returns the result


def results(result) -> list[dict]:
    """The data of the cell's execute_result messages."""
    return [m["content"]["data"] for m in result.of_type("execute_result")]


def test_a_carried_figure_as_the_last_expression_is_an_image(py):
    ok(py.run("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 1))\nax.plot([1, 3, 2]);"))
    shown = results(ok(py.run("fig")))
    assert len(shown) == 1, shown
    assert shown[0]["text/plain"] == "<Figure size 200x100 with 1 Axes>", shown
    assert base64.b64decode(shown[0]["image/png"]).startswith(PNG_MAGIC), shown[0].keys()


def test_a_carried_figure_without_axes_is_text_only(py):
    # IPython's png printer gives nothing for a figure with nothing drawn: only its text
    ok(py.run("import matplotlib.pyplot as plt\nempty = plt.figure(figsize=(2, 1))"))
    assert results(ok(py.run("empty"))) == [{"text/plain": "<Figure size 200x100 with 0 Axes>"}]


@pytest.mark.parametrize("with_function", [False, True], ids=["pickle", "dill"])
def test_a_numpy_view_writes_through_to_its_array_in_later_cells(kernels, with_function):
    # a function defined in a cell makes the state go through dill instead of pickle: both keep views
    py = kernels()
    ok(py.run("import numpy as np\nx = np.zeros(4)\nv = x[:2]\nr = x[::-1]\nt = np.arange(6.0).reshape(2, 3).T"
              + ("\ndef twice(a):\n    return 2 * a" if with_function else "")))
    ok(py.run("v[0] = 9\nt[0, 1] = -1\nprint(x, r)"), "[9. 0. 0. 0.] [0. 0. 0. 9.]\n")
    ok(py.run("v[1] = 5\nprint(x, r, t.base.ravel())"), "[9. 5. 0. 0.] [0. 0. 5. 9.] [ 0.  1.  2. -1.  4.  5.]\n")


def test_a_numpy_view_of_a_large_array_and_of_a_dataframe_keeps_writing_through(py):
    ok(py.run("import numpy as np, pandas as pd\nbig = np.zeros(400_000)\nhead = big[:3]\n"
              "df = pd.DataFrame({'a': [1, 2]})\nvalues = df['a'].values"))
    ok(py.run("head[1] = 4\nvalues[0] = 7"))
    ok(py.run("print(big[:3], big.sum(), list(df['a']))"), "[0. 4. 0.] 4.0 [7, 2]\n")


def test_arrays_that_fit_the_memory_limit_also_fit_while_they_are_saved(kernels):
    # four 40 MB arrays in a 320 MiB container: saving them must not need their size twice over
    # (the workspace is a tmpfs: what is written there counts against the cell's memory)
    py = kernels()
    ok(py.run("%memory 320m"))
    ok(py.run("import numpy as np\nparts = [np.full(5_000_000, i, dtype=np.float64) for i in range(4)]"))
    ok(py.run("print([int(p[-1]) for p in parts])\nparts[2][-1] = 42"), "[0, 1, 2, 3]\n")
    ok(py.run("print([int(p[-1]) for p in parts], int(sum(p.sum() for p in parts)))"),
       "[0, 1, 42, 3] 30000040\n")


DEFINE_FUNCS = "def func1(a, b):\n    return a / b\n\ndef func2(x):\n    return func1(x, x - 1)"


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_a_traceback_through_a_function_of_an_earlier_cell_shows_its_lines(py):
    ok(py.run(DEFINE_FUNCS))
    result = py.run("func2(1)")
    content = result.reply["content"]
    assert content["ename"] == "ZeroDivisionError", content
    traceback = plain("\n".join(content["traceback"]))
    assert "----> 2     return a / b" in traceback, traceback
    assert re.search(r"Cell In\[\d+\], line 2, in func1", traceback), traceback


def test_debug_without_a_frontend_for_input_fails_as_ipython_does(py):
    # nbclient and papermill answer no input: IPython shows where pdb starts, then fails for want of input
    ok(py.run(DEFINE_FUNCS))
    assert py.run("func2(1)").reply["content"]["ename"] == "ZeroDivisionError"
    result = py.run("%debug")
    content = result.reply["content"]
    assert content["ename"] == "StdinNotImplementedError", content
    assert content["evalue"] == "raw_input was called, but this frontend does not support input requests."
    shown = plain(result.stream())
    assert re.match(r"> /tmp/ipykernel_\d+/\d+\.py\(2\)func1\(\)\n", shown), shown
    assert "----> 2     return a / b" in shown, shown


def test_pdb_on_is_carried_to_later_cells(py):
    ok(py.run(DEFINE_FUNCS))
    first = py.run("%pdb on\nfunc2(1)")
    assert first.reply["content"]["ename"] == "ZeroDivisionError"
    assert plain(first.stream()).startswith("Automatic pdb calling has been turned ON\n> /tmp/ipykernel_")
    later = py.run("func2(1)")
    assert later.reply["content"]["ename"] == "ZeroDivisionError"
    assert "----> 2     return a / b" in plain(later.stream()), later.stream()
    ok(py.run("%pdb off"), "Automatic pdb calling has been turned OFF\n")
    assert py.run("func2(1)").stream() == ""


def test_a_generator_run_to_its_end_stays_exhausted_in_later_cells(py):
    ok(py.run("G = (n ** 2 for n in range(4))\nprint(list(G))"), "[0, 1, 4, 9]\n")
    assert results(ok(py.run("list(G)"))) == [{"text/plain": "[]"}]
    (shown,) = results(ok(py.run("G")))
    assert re.fullmatch(r"<generator object <genexpr> at 0x[0-9a-f]+>", shown["text/plain"]), shown


def test_debug_cell_magic_runs_the_cell_under_pdb_when_the_frontend_answers(py):
    answers = []

    def answer(message):
        answers.append(message["content"]["prompt"])
        py.kc.input("c")  # continue: the cell runs to its end

    result = ok(py.run("%%debug\nanswer_value = 41 + 1", stdin_hook=answer))
    assert "Enter 'c' at the ipdb>  prompt" in result.stream(), result.stream()
    assert answers and "ipdb>" in answers[0], answers
    ok(py.run("print(answer_value)"), "42\n")
