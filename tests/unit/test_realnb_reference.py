"""bench/notebooks/run.py's reference runs for languages other than Python (bash_kernel for
Bash): which kernels make them, and how a cell is judged against them (pure functions, no kernel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

RUN_PY = Path(__file__).resolve().parents[2] / "bench" / "notebooks" / "run.py"
_spec = importlib.util.spec_from_file_location("realnb_run", RUN_PY)
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

BASH = {"repo": "o/n", "path": "nb.ipynb", "commit": "0" * 40, "language": "bash", "kernel": "docker-bash"}


def test_python_keeps_ipykernel_and_other_languages_are_added():
    assert run.reference_kernels(None) == {"python": "python3"}
    assert run.reference_kernels(["bash=bash"]) == {"python": "python3", "bash": "bash"}
    assert run.reference_kernels(["python=py311", " ruby = ruby3 "]) == {"python": "py311", "ruby": "ruby3"}


@pytest.mark.parametrize("value", ["bash", "=bash", "bash=", " = "])
def test_a_malformed_reference_kernel_is_refused(value):
    with pytest.raises(ValueError, match="LANG=KERNELSPEC"):
        run.reference_kernels([value])


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _result(*outputs, status: str = "ok") -> dict:
    return {"outputs": list(outputs), "status": status, "seconds": 0.1}


def test_bash_cells_are_judged_against_the_reference_runs_not_the_saved_outputs():
    nb = nbformat.v4.new_notebook(cells=[
        # saved output from the author's Mac; the reference run prints the same as ours
        nbformat.v4.new_code_cell("printf '%s\\n' $PWD", outputs=[nbformat.v4.new_output("stream", text="/Users/a\n")],
                                  execution_count=1),
        # no saved output: still compared on its text, not on errors only
        nbformat.v4.new_code_cell("echo $$"),
        # a file the reference had too (it ran here): a data-file error only here is ours to fix
        nbformat.v4.new_code_cell("cat made-earlier.txt"),
    ])
    ours = {0: _result(_stream("/workspace\n")), 1: _result(_stream("7\n")),
            2: _result(_stream("cat: made-earlier.txt: No such file or directory\n", "stderr"), status="error")}
    refs = [{0: _result(_stream("/tmp/realnb-ref\n")), 1: _result(_stream("4242\n")), 2: _result(_stream("hello\n"))},
            {0: _result(_stream("/tmp/realnb-ref\n")), 1: _result(_stream("4343\n")), 2: _result(_stream("hello\n"))}]
    verdicts = run.compare_notebook(BASH, nb, ours, refs, ("/tmp/realnb-ref", "/tmp/realnb-ours", "/workspace"))
    assert [v["verdict"] for v in verdicts] == ["same", "same", "differs"]
    assert [v["errors_only"] for v in verdicts] == [False, False, False]
    assert [v["nondeterministic"] for v in verdicts] == [False, True, False]  # $$ differs between the runs
    assert verdicts[2]["why"] == "errors here, not in the original"


def test_without_reference_runs_bash_still_compares_with_the_saved_outputs():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("echo $0", outputs=[nbformat.v4.new_output("stream", text="/usr/local/bin/bash\n")],
                                  execution_count=1),
        nbformat.v4.new_code_cell("true"),
    ])
    ours = {0: _result(_stream("bash\n")), 1: _result()}
    verdicts = run.compare_notebook(BASH, nb, ours, [], ("/workspace",))
    assert [(v["verdict"], v["errors_only"]) for v in verdicts] == [("differs", False), ("same", True)]


def _side(stream):
    return {"error": True, "ename": "CompileError", "evalue": "", "stream": stream, "stderr": ""}


@pytest.mark.parametrize("stream, need", [
    ("error[E0433]: failed to resolve: use of undeclared crate or module `tokio`", "missing package"),
    ("error[E0433]: failed to resolve: use of undeclared crate or module `std`", None),
    ("error[E0425]: cannot find value `x` in this scope", None),
])
def test_a_rust_path_through_a_crate_we_lack_is_a_missing_package(stream, need):
    assert run.classify_need(_side(stream), "") == need


def test_a_fetch_that_crashes_on_its_nil_response_needs_the_network():
    crashed = _side("panic: runtime error: invalid memory address or nil pointer dereference")
    crashed["error"] = True
    fetch = 'resp, err := http.Get("https://example.org/logo.svg")\nbytes, err := ioutil.ReadAll(resp.Body)'
    assert run.crashed_fetch(crashed, fetch) == "network"
    assert run.crashed_fetch(crashed, "var p *int\n*p = 1") is None  # a nil pointer of the cell's own
    assert run.crashed_fetch(_side("Cell In[3]:2: undefined: resp"), fetch) is None  # not a crash


def test_our_own_notices_are_not_the_programs_output():
    ours = ("10\ndockerkernel: foo (MyClass) is not carried to the next cell: only numbers, strings and standard "
            "containers of them are\ndockerkernel: not carried over to the next cell: s: Socket instance\n"
            "dockerkernel: twice from Cell In[2] is dropped: it no longer compiles (x)\n")
    assert run.normalise(ours, (), False) == "10"
    # a program's own line that merely starts the same way stays
    assert run.normalise("dockerkernel: hello\n", (), False) == "dockerkernel: hello"
    stored = {"language": "cpp", "cells": [
        {"verdict": "differs", "why": "stream text differs", "nondeterministic": False,
         "ours": {"error": False, "stream": ours, "plain": "", "rich": []},
         "reference": {"error": False, "stream": "10\n", "plain": "", "rich": []}}]}
    run.rejudge(stored)
    assert stored["cells"][0]["verdict"] == "same" and stored["cells"][0]["rejudged"] == "stream text differs"


RUST = {"repo": "o/n", "path": "nb.ipynb", "commit": "0" * 40, "language": "rust", "kernel": "docker-rust"}


def test_a_rust_name_from_an_excluded_cell_is_a_cascade_and_a_glob_import_covers_every_name():
    """rustc's `cannot find function`/`use of undeclared type` are name errors too; after an
    excluded `use plotters::prelude::*;` any name error may be about one of its names, while a
    name error with no excluded cell before it is still ours (real notebooks: stleary's Perceptron
    `run`, dskkato/plotters-demo's `ChartBuilder`)."""
    saved = [nbformat.v4.new_output("stream", text="ok\n")]
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("let early = missing();", outputs=saved, execution_count=1),
        nbformat.v4.new_code_cell("use rand::Rng;\nuse plotters::prelude::*;\nfn run() {}", execution_count=2),
        nbformat.v4.new_code_cell("run();", outputs=saved, execution_count=3),
        nbformat.v4.new_code_cell("let c = ChartBuilder::on(&root);", outputs=saved, execution_count=4),
        nbformat.v4.new_code_cell('println!("ok");', outputs=saved, execution_count=5),
    ])
    compile_error = lambda evalue: _result({"output_type": "error", "ename": "CompileError", "evalue": evalue,  # noqa: E731
                                            "traceback": []}, status="error")
    ours = {0: compile_error("error[E0425]: cannot find function `missing` in this scope"),
            1: compile_error("error[E0432]: unresolved import `rand`: use of undeclared crate or module `rand`"),
            2: compile_error("error[E0425]: cannot find function `run` in this scope"),
            3: compile_error("error[E0433]: failed to resolve: use of undeclared type `ChartBuilder`"),
            4: _result(_stream("ok\n"))}
    verdicts = run.compare_notebook(RUST, nb, ours, [], ("/workspace",))
    assert [v["verdict"] for v in verdicts] == ["differs", "excluded", "excluded", "excluded", "same"]
    assert [v.get("need") for v in verdicts[1:4]] == ["missing package", "cascade", "cascade"]
    assert run.GLOB_IMPORT.search("use plotters::prelude::*;") and not run.GLOB_IMPORT.search("use std::fmt::Debug;")


def test_a_go_or_rust_cell_of_a_notebook_with_maps_matches_in_another_order_only():
    # samuelastech/go maps.ipynb: Go before 1.12 printed maps unsorted, and `range` over a map
    # is random in every version; kylekizirian/gonotes collections.ipynb: a set as a map
    def judged(language, earlier, source, ours, saved):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(earlier), nbformat.v4.new_code_cell(source)]
        nb.cells[0].execution_count, nb.cells[1].execution_count = 1, 2
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=saved)]
        entry = {"repo": "o/n", "path": "nb.ipynb", "commit": "0" * 40, "language": language, "kernel": "k"}
        mine = {0: {"outputs": [], "status": "ok", "seconds": 0.1},
                1: {"outputs": [nbformat.v4.new_output("stream", name="stdout", text=ours)],
                    "status": "ok", "seconds": 0.1}}
        return run.compare_notebook(entry, nb, mine, [], ())[1]

    go_map = 'colors := map[string]string{"red": "#ff0000", "geen": "#4bf745"}'
    cell = judged("go", go_map, "fmt.Println(colors)", "map[geen:#4bf745 red:#ff0000]\n",
                  "map[red:#ff0000 geen:#4bf745]\n")
    assert (cell["verdict"], cell["unordered"]) == ("same", True)
    lines = judged("go", go_map, "for k, v := range colors {\n fmt.Println(k, v)\n}", "red #ff0000\ngeen #4bf745\n",
                   "geen #4bf745\nred #ff0000\n")
    assert lines["verdict"] == "same"
    # the words are the same but the punctuation is not, or a word differs: still different
    assert judged("go", go_map, "s", "{1,2}\n", "[1,2]\n")["verdict"] == "differs"
    assert judged("go", go_map, "s", "map[a:1 b:2]\n", "map[a:1 b:3]\n")["verdict"] == "differs"
    # without a map in the notebook, order counts
    plain = judged("go", "xs := []int{1, 2}", "fmt.Println(xs)", "[2 1]\n", "[1 2]\n")
    assert (plain["verdict"], plain["unordered"]) == ("differs", False)
    rust = judged("rust", "let mut m = HashMap::new();", "println!(\"{:?}\", m);", '{"b": 2, "a": 1}\n',
                  '{"a": 1, "b": 2}\n')
    assert rust["verdict"] == "same"
    # Python's dicts keep their insertion order: no such rule
    python = judged("python", "m = {'map[': 1}", "print(2, 1)", "2 1\n", "1 2\n")
    assert python["verdict"] == "differs"


def test_a_printed_date_in_a_nondeterministic_cell_is_masked_word_and_digit():
    # kylekizirian/gonotes concurrency: `time.Now().Format(time.ANSIC)` in each line
    ours = ("running  2 threads at time:  Mon Nov 30 20:31:04 2026\n"
            "running  1 threads at time:  Mon Nov 30 20:31:04 2026")
    saved = ("running  1 threads at time:  Sun May 22 10:22:20 2022\n"
             "running  2 threads at time:  Sun May 22 10:22:20 2022")
    assert run.normalise(ours, (), True) == run.normalise(saved, (), True)
    # a deterministic cell keeps its words: a weekday is not masked there
    assert run.normalise("Mon", (), False) != run.normalise("Sun", (), False)
    # a word that only starts like a month is not one
    assert run.normalise("Monday Mayor", (), True) == "Monday Mayor"
