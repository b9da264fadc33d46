"""The ``docker-polyglot`` kernel, where the first line ``%%LANG`` picks a cell's language.

Cells of different languages share one ``/workspace``; ``%lang`` sets the language of cells
without a ``%%LANG`` line; an unknown language is a clear ``UsageError``. ``examples/polyglot.ipynb``
runs end to end under ``jupyter nbconvert --execute`` and under papermill, and round-trips
through nbformat unchanged.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import docker
import nbformat
import pytest

from dockerkernel.languages import IMAGE_PREFIX
from dockerkernel.sandbox import LABEL_KERNEL, LABEL_PID
from tests.support import ROOT, KernelHandle, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("images")]

NOTEBOOK = Path(ROOT) / "examples" / "polyglot.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def objects_of_pid(pid: int) -> list:
    client = docker.from_env()
    label = [LABEL_KERNEL, f"{LABEL_PID}={pid}"]
    return client.api.containers(all=True, filters={"label": label}) + (
        client.api.volumes(filters={"label": label}).get("Volumes") or []
    )


@pytest.fixture(scope="module")
def poly(images):
    """One docker-polyglot kernel for the module; nothing of it remains afterwards."""
    handle = KernelHandle("docker-polyglot")
    pid = handle.pid()
    yield handle
    handle.shutdown()
    assert wait_until(lambda: not objects_of_pid(pid), timeout=30), objects_of_pid(pid)


def assert_ok(result, stdout: str | None = None) -> None:
    assert result.status == "ok", (result.reply["content"], result.stream("stderr"))
    assert not result.of_type("error")
    if stdout is not None:
        assert result.stream() == stdout, (result.stream(), result.stream("stderr"))


def assert_error(result, ename: str) -> dict:
    content = result.reply["content"]
    assert result.status == "error", content
    assert content["ename"] == ename, content
    assert [m["content"]["ename"] for m in result.of_type("error")] == [ename]
    return content


def image_of(result) -> str:
    return result.reply["metadata"]["dockerkernel"]["image"]


# ---- the kernel ---------------------------------------------------------------------------------------


def test_c_writes_a_file_that_python_and_bash_read(poly):
    written = poly.run(
        '%%c\nFILE *f = fopen("from_c.csv", "w");\nfprintf(f, "n,square\\n");\n'
        'for (int i = 1; i <= 4; i++) fprintf(f, "%d,%d\\n", i, i * i);\nfclose(f);\nputs("written by C");'
    )
    assert_ok(written, "written by C\n")
    assert image_of(written) == f"{IMAGE_PREFIX}c:latest"
    read = poly.run(
        "%%python\nimport csv\nrows = list(csv.DictReader(open('from_c.csv')))\n"
        "print(sum(int(r['square']) for r in rows))"
    )
    assert_ok(read, "30\n")
    assert image_of(read) == f"{IMAGE_PREFIX}python:latest"
    assert_ok(poly.run("%%bash\nwc -l < from_c.csv"), "5\n")


def test_cell_without_a_lang_line_runs_in_the_default_and_lang_changes_it(poly):
    default = poly.run("import sys\nprint(sys.version_info[0])")
    assert_ok(default, "3\n")
    assert image_of(default) == f"{IMAGE_PREFIX}python:latest"
    try:
        changed = poly.run("%lang ruby")
        assert_ok(changed)
        assert "ruby" in changed.stream()
        ruby = poly.run("puts 6 * 7\nputs 1.class")
        assert_ok(ruby, "42\nInteger\n")
        assert image_of(ruby) == f"{IMAGE_PREFIX}ruby:latest"
        # a %%LANG line still wins over the default
        assert_ok(poly.run("%%python\nprint('still python')"), "still python\n")
        assert_ok(poly.run("puts 'back to ruby'"), "back to ruby\n")
    finally:
        assert_ok(poly.run("%lang python"))
    assert_ok(poly.run("print('python again')"), "python again\n")


def test_unknown_cell_language_is_a_clear_error(poly):
    content = assert_error(poly.run("%%cobol\nDISPLAY 'HELLO'."), "UsageError")
    assert "cobol" in content["evalue"] and "%lsmagic" in content["evalue"], content
    content = assert_error(poly.run("%lang cobol"), "UsageError")
    assert "cobol" in content["evalue"] and "python" in content["evalue"] and "rust" in content["evalue"], content
    assert_ok(poly.run("print('fine')"), "fine\n")


def test_compile_error_line_counts_the_lang_line(poly):
    """In a ``%%c`` cell the ``%%c`` line is line 1: an error on the cell's line 3 says 3."""
    content = assert_error(poly.run("%%c\nint a = 1;\nint b = undefined_name;\n"), "CompileError")
    traceback = "\n".join(content["traceback"])
    assert f"Cell In[{content['execution_count']}]:3:" in traceback, traceback


def test_cflags_for_c_do_not_break_the_other_compiled_languages(poly):
    """README's own example, ``%cflags -O2 -lm``, is for gcc: Go, Rust and Java cells must still compile.

    On the polyglot kernel one notebook mixes compilers with different flag syntaxes; gcc's
    flags handed to ``go build``, ``rustc`` or ``javac`` make every such cell a CompileError.
    """
    try:
        assert_ok(poly.run("%cflags -O2 -lm"))
        assert_ok(poly.run('%%c\nprintf("%.3f\\n", sqrt(2.0));'), "1.414\n")
        failures = {}
        for lang, code in {
            "go": '%%go\nimport "fmt"\nfunc main() { fmt.Println("ok") }',
            "rust": '%%rust\nprintln!("ok");',
            "java": '%%java\nSystem.out.println("ok");',
        }.items():
            result = poly.run(code)
            if result.status != "ok" or result.stream() != "ok\n":
                failures[lang] = (result.reply["content"].get("ename"), result.reply["content"].get("evalue"))
        assert not failures, f"after %cflags -O2 -lm: {failures}"
    finally:
        assert_ok(poly.run("%cflags"))


def test_every_language_runs_in_one_notebook(poly):
    cells = {
        "python": "%%python\nprint('hi from python')",
        "javascript": "%%javascript\nconsole.log('hi from javascript')",
        "bash": "%%bash\necho hi from bash",
        "ruby": "%%ruby\nputs 'hi from ruby'",
        "c": '%%c\nputs("hi from c");',
        "cpp": '%%cpp\ncout << "hi from cpp" << endl;',
        "go": '%%go\nimport "fmt"\nfunc main() { fmt.Println("hi from go") }',
        "rust": '%%rust\nprintln!("hi from rust");',
        "java": '%%java\nSystem.out.println("hi from java");',
    }
    for lang, code in cells.items():
        result = poly.run(code)
        assert_ok(result, f"hi from {lang}\n")
        assert image_of(result) == f"{IMAGE_PREFIX}{lang}:latest"


def test_kernel_info_names_polyglot(poly):
    msg_id = poly.kc.kernel_info()
    reply = poly.kc.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = poly.kc.get_shell_msg(timeout=60)
    info = reply["content"]["language_info"]
    assert info["name"] == "polyglot"
    assert info["file_extension"] and info["file_extension"].startswith(".")


# ---- examples/polyglot.ipynb ------------------------------------------------------------------------------


def check_executed(nb) -> None:
    """Every code cell ran without error; C wrote the data, Python plotted it, the others read it."""
    nbformat.validate(nb)
    problems = []
    stdout = ""
    pngs = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not cell.execution_count:
            problems.append(f"cell {cell.get('id')} did not run")
        for out in cell.outputs:
            if out.output_type == "error":
                problems.append(f"cell {cell.get('id')}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stdout":
                stdout += out.text
            elif out.output_type in ("display_data", "execute_result") and "image/png" in out.data:
                pngs.append(base64.b64decode(out.data["image/png"]))
    assert not problems, problems
    for text in ("wrote oscillator.csv", "2001 oscillator.csv", "JavaScript read 2000 samples", "Rust: max x ="):
        assert text in stdout, (text, stdout)
    assert pngs, "no image/png output"
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)


@pytest.fixture(scope="module")
def nbconvert_executed(tmp_path_factory, images):
    """``jupyter nbconvert --to notebook --execute`` of the example, the way users run it."""
    out_dir = tmp_path_factory.mktemp("nbconvert")
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    proc = subprocess.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=120",
         "--output-dir", str(out_dir), str(NOTEBOOK)],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out_dir / NOTEBOOK.name


def test_polyglot_notebook_under_nbconvert(nbconvert_executed):
    executed = nbformat.read(nbconvert_executed, as_version=4)
    check_executed(executed)
    assert executed.metadata.kernelspec.name == "docker-polyglot"


def test_polyglot_notebook_under_papermill(tmp_path):
    import papermill

    output = tmp_path / "out.ipynb"
    nb = papermill.execute_notebook(
        str(NOTEBOOK), str(output), cwd=str(tmp_path), progress_bar=False, start_timeout=120, execution_timeout=120,
    )
    check_executed(nb)
    stored = nbformat.read(output, as_version=4)
    check_executed(stored)
    assert all(c.metadata.papermill.status == "completed" for c in stored.cells if c.cell_type == "code")
    assert stored.metadata.papermill.exception in (False, None)


def test_polyglot_notebook_round_trips_through_nbformat(tmp_path):
    """read → write → read gives the same notebook, and the written file is byte-identical."""
    original = NOTEBOOK.read_bytes()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    copy = tmp_path / "copy.ipynb"
    nbformat.write(nb, copy)
    again = nbformat.read(copy, as_version=4)
    assert again == nb
    assert copy.read_bytes() == original
    # the %%LANG lines are ordinary source: nothing is rewritten or lost
    sources = [c.source.split("\n", 1)[0] for c in again.cells if c.cell_type == "code"]
    assert sources == ["%%c", "%%bash", "%%python", "%%javascript", "%%rust"]
    assert again.metadata.kernelspec.name == "docker-polyglot"


def test_executed_polyglot_notebook_round_trips(nbconvert_executed, tmp_path):
    """The executed notebook (outputs, an image) validates and round-trips unchanged too."""
    nb = nbformat.read(nbconvert_executed, as_version=4)
    nbformat.validate(nb)
    path = tmp_path / "again.ipynb"
    nbformat.write(nb, path)
    again = nbformat.read(path, as_version=4)
    assert again == nb
    nbformat.validate(again)
    assert path.read_bytes() == nbconvert_executed.read_bytes()
