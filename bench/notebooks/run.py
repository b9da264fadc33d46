#!/usr/bin/env python3
"""Run public notebooks unchanged on the dockerkernel kernels and compare each code cell with the original.

Usage (by hand, not in CI: it needs the notebooks, see README.md)::

    python bench/notebooks/run.py [--from DIR] [--lang python,bash,...] [--match TEXT]
                                  [--cell-timeout 60] [--notebook-timeout 900]
                                  [--reference-kernel LANG=KERNELSPEC ...] [--json OUT.json]

Input: ``manifest.json`` next to this script: ``{"notebooks": [{"repo", "path", "commit",
"language", "kernel", ...}]}``.  Each notebook is read from ``DIR/<owner>__<name>/<commit>/<path>``
when ``--from DIR`` is given; otherwise it is downloaded once, by HTTPS, from
``https://raw.githubusercontent.com/<owner>/<name>/<commit>/<path>`` into ``--cache``
(default ``~/.cache/dockerkernel-realnb``) and read from there.

What is run: the notebook exactly as published (its outputs removed), one notebook at a time,
with nbclient on our kernel (``kernel`` in the manifest: ``docker-python``, ``docker-bash``, ...),
``allow_errors=True``, a per-cell timeout (a cell that times out is interrupted and counts as an
error) and a per-notebook time budget (cells past it are "not run" and count as differing).

The reference a cell is compared with:

* Python: the same notebook run the same way on ipykernel (kernelspec ``python3`` of the
  environment running this script, or ``--reference-kernel python=NAME``; install the image's
  NumPy, pandas and Matplotlib versions there, or give ``--reference-path DIR`` holding the
  image's IPython version and a matplotlib-inline that fits the image's Matplotlib).  The
  reference is run twice: a cell whose text differs between the two reference runs is
  *nondeterministic* (unseeded random numbers, ``id()``, timings).
* A language given with ``--reference-kernel LANG=KERNELSPEC`` (since 2026-11-30; e.g.
  ``bash=bash``: bash_kernel, installed in its own environment with its kernelspec on
  ``JUPYTER_PATH``, see README.md): as for Python, the same notebook run twice on that kernel in
  a temporary directory on this machine; a cell whose text differs between the two runs is
  nondeterministic.  ``--reference-path`` is for Python only.  The reference's data files are
  ours too (a ``data file`` error only on our side is our failure), no cell is ``errors_only``,
  and the author's restarts are not replayed (each side is one session).  The comparison rules
  are the other languages' below (streams merged or apart; error names not compared).
* Other languages (the default): the outputs saved in the notebook by its original kernel (bash_kernel,
  IJavascript, IRuby, xeus-cling, gophernotes, evcxr, IJava).  A cell with neither saved outputs
  nor an execution count was not run by its author: only its error status can be checked
  (the original is taken to have run without error); these cells are counted as
  ``errors_only`` in the JSON.  A non-Python cell is *nondeterministic* when its source uses
  random numbers, clocks, threads or goroutines (regex ``NONDETERMINISTIC``).  Where the saved
  execution counts show that the author restarted the kernel (``restarts_of``: the count falls
  back to 1 or 2), our kernel is restarted at the same place (since 2026-11-30): the outputs were
  made by those separate sessions.

A cell "runs as in the original" when

1. it errors iff the reference errors (an ``error`` output, or an ``execute_reply`` with status
   ``error``; bash_kernel reports a non-zero exit status of the cell's last command so, as
   does our kernel); for Python, when both error, the exception names must be equal too;
2. its text matches after normalisation: the stream text (Python: stdout only, because warnings
   on stderr differ between library builds; other languages: stdout and stderr together, in order,
   or each stream on its own, since the original kernel may have merged them), and for each
   ``execute_result``/``display_data`` the ``text/plain`` (only for outputs without a rich
   MIME type) and the set of rich MIME types (``image/png``, ``text/html``, ...; images are
   never compared byte for byte).  Error tracebacks are not compared.

Normalisation (``normalise``): CRLF→LF, ANSI colour codes removed, trailing blanks and leading or
trailing empty lines dropped; hexadecimal addresses ``0x…`` and ``Class@1b6d3586`` hashes
masked; durations (``12.3 ms``, ``4 µs``, ``Wall time: …``, ``… loops each``, ``of 7 runs``)
masked, and ``%timeit``'s "The slowest run took N times longer than the fastest…" line (it says
how loaded the machine was during the runs) dropped (since 2026-11-30; ``--merge --rejudge``
applies it to stored results); the working directory (``/workspace``, the reference's temporary directory) replaced by
``<cwd>``; our kernel's own notices that a variable is not carried to the next cell, or that a
kept definition is dropped (``dockerkernel: foo (MyClass) is not carried …``), removed (since
2026-11-30: the notice is ours, not the program's output; what it announces is judged in the
later cells that use the name; ``--merge --rejudge`` applies it to stored results, of every
language).  For nondeterministic cells every run of digits is masked as well, and the names of
weekdays and months (a printed date, since stop 16, 2026-11-30), and lines are compared as sorted multisets
(threads may interleave).  Go and Rust cells of a notebook that uses
a Go ``map[`` or a Rust ``HashMap``/``HashSet`` (since stop 16, 2026-11-30, ``unordered`` in the JSON) also
match when only the order of lines, or of the words within a line, differs: those languages
iterate such maps in a random order, so the original kernel run again differs the same way.

Excluded cells (counted separately, not in the percentage) are classified by their error
(``classify_need``):

* ``missing package``: the package is not in our image (ModuleNotFoundError, ``Cannot find
  module``, LoadError, Go ``cannot find package``, Rust ``can't find crate`` or ``use of undeclared
  crate or module`` (since 2026-11-30), Java ``package …
  does not exist`` outside ``java.*``, C++ missing non-standard header);
* ``data file``: the file does not exist (FileNotFoundError, ENOENT, …) and no earlier cell of
  the notebook names it (a file an earlier cell writes is our failure, not an exclusion);
* ``network``: name resolution or connection failures (cells never get the network);
* ``kernel API``: the cell uses another kernel's own API (IJavascript ``$$``, IRuby ``IRuby.``,
  gophernotes ``display``/``:import``, evcxr ``:dep``/``evcxr_runtime``, IJava ``%maven``/``%jars``,
  xeus-cling ``xcpp::``/``#pragma cling``/``?name``, bash_kernel ``display``/``displayHTML``)
  and does not run as the original did;
* ``cascade``: a later cell whose reference errors with a name error after an excluded cell
  (it depends on what the excluded cell would have defined), or whose own error here is a name
  error about a name an excluded cell's source holds (``undefined: mat`` after the excluded
  ``import "gonum.org/v1/gonum/mat"``; since 2026-11-30), or about any name once an excluded cell
  imported every name of a module (``use plotters::prelude::*;``, then ``use of undeclared type
  `ChartBuilder```; regex ``GLOB_IMPORT``; since 2026-11-30, stop 15).

A need found in either run excludes the cell (e.g. the reference downloads a file that our
cells, which never get the network, cannot).

Output: a table per notebook, a summary per language (cells, excluded, ran as original, %)
on stdout, and with ``--json`` every cell's verdict with both sides' error names and text, and
per notebook which ``reference`` it was compared with.
``--merge A.json B.json …`` runs nothing: it joins earlier results (a later file's notebook replaces
an earlier one's) and prints the same summary.  Exit status: 0 when every notebook could be run,
1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import pathlib
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import nbformat
from nbclient import NotebookClient
from nbclient.util import run_sync

HERE = pathlib.Path(__file__).resolve().parent
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
REFERENCE_KERNEL = "python3"  # Python's reference kernelspec unless --reference-kernel python=NAME

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HEX = re.compile(r"0x[0-9a-fA-F]+")
JAVA_HASH = re.compile(r"(?<=[\w$])@[0-9a-f]{5,8}\b")
DURATION = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:e[-+]?\d+)?\s*(?:ns|µs|us|ms|s|sec|secs|seconds|min)\b")
LOOPS = re.compile(r"\b[\d,]+ loops?\b|\bof \d+ runs?\b")
TIMING_LINE = re.compile(r"^(CPU times|Wall time):.*$", re.M)
# our kernel's notices on stderr (notebook_program.NotCarriedNotices, boot.js, pyboot, dkbuild)
OUR_NOTICE = re.compile(r"^dockerkernel: (?:.* (?:is|are) not carried|not carried over|.* is dropped: ).*\n?", re.M)
# %timeit's note on its own timing variance (printed when the slowest run took over 4x the
# fastest: a property of the machine's load at that moment, like the durations themselves)
SLOWEST = re.compile(r"^The slowest run took [\d.,]+ times longer than the fastest\..*(?:\n|$)", re.M)
DIGITS = re.compile(r"\d+")
# the words of a printed date (`Mon Nov 30 20:31:04 2026`, Go's time.ANSIC): a clock's output too
CLOCK_WORDS = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b")
NONDETERMINISTIC = re.compile(
    r"rand|Random|random|time\.Now|Time\.now|Date\.now|new Date|Instant|SystemTime|chrono|clock|"
    r"\bthread|Thread|spawn|go func|goroutine|sync\.WaitGroup|setTimeout|hashCode|object_id|sleep",
)

# (kind, regex over the error name + value + stream text)
NEED_PATTERNS = [
    ("network", re.compile(
        r"URLError|urlopen error|getaddrinfo|ENOTFOUND|EAI_AGAIN|Name or service not known|"
        r"Temporary failure in name resolution|Could not resolve host|Network is unreachable|"
        r"ConnectionError|Connection refused|ECONNREFUSED|gaierror|UnknownHostException|"
        r"dial tcp|no such host|HTTPSConnectionPool|Max retries exceeded")),
    ("missing package", re.compile(
        r"ModuleNotFoundError|No module named|Cannot find module '(?![./])|cannot load such file|"
        r"LoadError|cannot find package|is not in (?:GOROOT|std)|no required module provides package|"
        r"can't find crate|unresolved import `(?!std|core|alloc|crate|self|super)|"
        r"use of undeclared crate or module `(?!std|core|alloc)|"  # `tokio::net::…` without the crate
        r"package (?!java\.|javax\.)[\w.]+ does not exist|"
        r"fatal error: (?!bits/)[\w/.+-]+\.(?:h|hpp|hxx)?: No such file or directory|"
        r"fatal error: (?:xcpp|xeus|xtensor|xwidgets|nlohmann)[\w/.]*: No such file|"
        r"(?:Line|Cell) magic function `%%?\w+` not found")),  # an extension that is not installed
    ("data file", re.compile(
        r"FileNotFoundError|No such file or directory|ENOENT|NoSuchFileException|"
        r"FileNotFoundException|does not exist \(No such file")),
]
FILENAME_IN_ERROR = re.compile(
    r"""['"`]([^'"`\s]+\.[A-Za-z0-9]{1,5})['"`]|(\S+\.(?:csv|txt|json|dat|tsv|xlsx|h5|png|jpg))""")

KERNEL_API = {
    "javascript": re.compile(r"\$\$(?:html|svg|png|jpeg|mime|async|done|text)?\$\$|\$\$\.|\$\$\s*=|\bdisplay\(\)"),
    "ruby": re.compile(r"\bIRuby\b"),
    # gophernotes' `display.X(...)`/`Display(...)` are served (notebook_runtime.GO): not excluded
    "go": re.compile(r"gophernotes|^\s*:\w+", re.M),  # :import is gophernotes' old syntax
    "rust": re.compile(r"^\s*:\w+|evcxr_runtime|evcxr_display|EVCXR_", re.M),
    "java": re.compile(r"^\s*%%?(?:maven|jars|classpath|loadFromPOM|addMavenDependenc\w*|load)\b|\bIJava\b", re.M),
    "cpp": re.compile(r"xcpp::|#include\s*[<\"](?:xcpp|xeus|xtl|xwidgets|xtensor)|#pragma cling|"
                      r"^\s*\?\s*\w|^\s*%\w+|xw::|nl::json", re.M),
    "bash": re.compile(r"\bdisplayHTML\b|\|\s*display\b|\bdisplayJS\b"),
    "python": None,
}
NAME_ERROR = re.compile(
    r"NameError|ReferenceError|undefined (?:local variable|method)|cannot find (?:value|function|symbol|type|macro)|"
    r"use of undeclared (?:type|crate or module)|undefined: |not declared in this scope|is not defined")
# the name a name error is about (Go, C/C++, Python/JavaScript, Ruby, Rust: since 2026-11-30 also
# rustc's `cannot find function/type/macro` and `use of undeclared type`)
NAME_IN_ERROR = re.compile(
    r"undefined: (\w+)|[‘'`](\w+)[’'`] (?:was not|has not been) declared|name '(\w+)' is not defined|"
    r"(\w+) is not defined|undefined local variable or method `(\w+)'|"
    r"cannot find (?:value|function|type|macro|struct) `(\w+)`|use of undeclared type `(\w+)`")
# an import of every public name of a module (Rust `use m::*;`, Java `import p.*;`, C++ `using
# namespace`, Go's dot import, Python `from m import *`): in an excluded cell, any later name
# error may be about one of those names
GLOB_IMPORT = re.compile(r"^\s*(?:pub\s+)?use\s+[\w:]+::\*\s*;|^\s*import\s+(?:static\s+)?[\w.]+\.\*\s*;|"
                         r"\busing\s+namespace\s+(?!std\b)\w+|^\s*import\s+\.\s+\"|^\s*from\s+\S+\s+import\s+\*", re.M)


def read_manifest(path: pathlib.Path) -> list[dict]:
    """The manifest's entries, each a dict with repo, path, commit, language and kernel."""
    return json.loads(path.read_text())["notebooks"]


def local_name(entry: dict) -> pathlib.PurePosixPath:
    """Where a notebook lives below --from DIR or the cache: ``owner__name/commit/path``."""
    return pathlib.PurePosixPath(entry["repo"].replace("/", "__"), entry["commit"], entry["path"])


def load_notebook(entry: dict, from_dir: pathlib.Path | None, cache: pathlib.Path) -> nbformat.NotebookNode:
    """The notebook at its commit; from ``from_dir`` or downloaded into ``cache`` (HTTPS).

    Raises FileNotFoundError when ``from_dir`` lacks it, urllib.error.URLError on download errors.
    """
    if from_dir is not None:
        return nbformat.read(str(from_dir / local_name(entry)), as_version=4)
    target = cache / local_name(entry)
    if not target.exists():
        url = RAW_URL.format(repo=entry["repo"], commit=entry["commit"],
                             path=urllib.parse.quote(entry["path"]))
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        target.write_bytes(data)
    return nbformat.read(str(target), as_version=4)


def source_of(cell) -> str:
    return cell.source if isinstance(cell.source, str) else "".join(cell.source)


def has_original_run(cell) -> bool:
    return bool(cell.get("outputs")) or cell.get("execution_count") is not None


def restarts_of(nb: nbformat.NotebookNode) -> set[int]:
    """Indices of the code cells before which the author restarted the kernel: the saved
    execution count falls back to 1 or 2 at or below the count before it (``[.., 39, 2, 3, ..]``).
    Replaying such a notebook without the restarts would redefine its classes in one session,
    which the original kernel refuses as well."""
    found, previous = set(), None
    for index, cell in enumerate(nb.cells):
        count = cell.get("execution_count") if cell.cell_type == "code" else None
        if count is None:
            continue
        if previous is not None and count <= 2 and count <= previous:
            found.add(index)
        previous = count
    return found


def reference_kernels(values: list[str] | None) -> dict[str, str]:
    """``{language: kernelspec name}`` of the kernels that make reference runs, from
    ``--reference-kernel LANG=NAME`` values (``["bash=bash"]``); Python's is ``REFERENCE_KERNEL``
    unless a value names another.  Languages absent from the result compare with saved outputs.

    Raises ValueError for a value without ``=`` or with an empty side.
    """
    kernels = {"python": REFERENCE_KERNEL}
    for value in values or []:
        language, sep, name = value.partition("=")
        if not sep or not language.strip() or not name.strip():
            raise ValueError(f"--reference-kernel wants LANG=KERNELSPEC, not {value!r}")
        kernels[language.strip()] = name.strip()
    return kernels


def run_notebook(nb: nbformat.NotebookNode, kernel: str, cell_timeout: int, budget: float,
                 cwd: str, pythonpath: str | None = None, restarts: set[int] = frozenset()) -> dict[int, dict]:
    """Run every code cell of ``nb`` (outputs cleared) on ``kernel``; ``{cell index: result}``,
    restarting the kernel before the cells in ``restarts`` (see ``restarts_of``).

    A result is ``{"outputs": [...], "status": "ok"|"error"|"not run"|"died", "seconds": float}``.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    replies: dict[int, str] = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        replies[cell_index] = (execute_reply or {}).get("content", {}).get("status", "ok")

    client = NotebookClient(
        nb, kernel_name=kernel, timeout=cell_timeout, allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"cell ran over {cell_timeout} s",
                          "traceback": []},
        startup_timeout=180, record_timing=False, on_cell_executed=on_cell_executed,
        resources={"metadata": {"path": cwd}},
    )
    results: dict[int, dict] = {}
    deadline = time.monotonic() + budget
    dead = None
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if dead or time.monotonic() > deadline:
                results[index] = {"outputs": [], "status": "died" if dead else "not run", "seconds": 0.0}
                continue
            start = time.monotonic()
            try:
                if index in restarts:
                    run_sync(client.km.restart_kernel)(now=False)
                    run_sync(client.kc.wait_for_ready)(timeout=180)
                client.execute_cell(cell, index)
                status = replies.get(index, "ok")
            except Exception as exc:  # DeadKernelError, CellTimeoutError, zmq trouble
                status, dead = "died", f"{type(exc).__name__}: {exc}"
            results[index] = {"outputs": list(cell.outputs), "status": status,
                              "seconds": round(time.monotonic() - start, 3)}
    return results


def normalise(text: str, cwds: tuple[str, ...], nondeterministic: bool) -> str:
    """``text`` with addresses, durations and working directories masked (see module docstring)."""
    text = ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = OUR_NOTICE.sub("", text)
    for cwd in cwds:
        if cwd:
            text = text.replace(cwd, "<cwd>")
    text = TIMING_LINE.sub(r"\1: <t>", text)
    text = SLOWEST.sub("", text)
    text = HEX.sub("0x<addr>", text)
    text = JAVA_HASH.sub("@<hash>", text)
    text = DURATION.sub("<t>", text)
    text = LOOPS.sub("<n> loops", text)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if nondeterministic:
        lines = sorted(DIGITS.sub("<n>", CLOCK_WORDS.sub("<w>", line)) for line in lines)
    return "\n".join(lines)


def summarise(outputs: list, status: str, python: bool) -> dict:
    """What is compared of one cell's outputs: error, stream text, plain results, rich MIME types."""
    error = status in ("error", "died", "not run") or any(o.get("output_type") == "error" for o in outputs)
    ename = next((o.get("ename", "") for o in outputs if o.get("output_type") == "error"), "")
    evalue = next((o.get("evalue", "") for o in outputs if o.get("output_type") == "error"), "")
    merged, streams, plain, rich = [], {"stdout": [], "stderr": []}, [], []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            text = o.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            streams.setdefault(o.get("name", "stdout"), []).append(text)
            if not python or o.get("name") == "stdout":
                merged.append(text)
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            mimes = sorted(m for m in data if m != "text/plain")
            if mimes:
                rich.append(",".join(mimes))
            elif "text/plain" in data:
                value = data["text/plain"]
                plain.append(value if isinstance(value, str) else "".join(value))
    return {"error": error, "ename": status if status in ("not run", "died") else ename,
            "evalue": evalue, "stream": "".join(merged), "stdout": "".join(streams["stdout"]),
            "stderr": "".join(streams["stderr"]), "plain": "\n".join(plain), "rich": rich}


# Go's maps and Rust's HashMap/HashSet iterate in an order the language leaves random (the Go
# spec: "not specified and not guaranteed to be the same from one iteration to the next"; fmt
# printed maps unsorted before Go 1.12): the original kernel run again gives another order
UNORDERED = {"go": re.compile(r"\bmap\["), "rust": re.compile(r"\bHash(?:Map|Set)\b")}
WORD = re.compile(r"\w+")


def unordered_form(text: str) -> list[str]:
    """``text`` with the order of its lines, and of the words within each line, taken away;
    each line keeps its punctuation in place (``map[b:2 a:1]`` and ``map[a:1 b:2]`` agree,
    ``{1,2}`` and ``[1,2]`` do not)."""
    return sorted(WORD.sub("w", line) + "\0" + " ".join(sorted(WORD.findall(line))) for line in text.split("\n"))


def texts_match(ours: dict, ref: dict, cwds, nondeterministic: bool, python: bool,
                unordered: bool = False) -> str | None:
    """None when the text of both sides matches, else which part differs. ``unordered``: the
    cell's language iterates maps in a random order and the notebook uses one (``UNORDERED``),
    so lines and the words within a line may come in another order."""
    def same(a: str, b: str) -> bool:
        a, b = normalise(a, cwds, nondeterministic), normalise(b, cwds, nondeterministic)
        return a == b or (unordered and unordered_form(a) == unordered_form(b))

    if not same(ours["stream"], ref["stream"]):
        separately = not python and same(ours["stdout"], ref["stdout"]) and same(ours["stderr"], ref["stderr"])
        if not separately:
            return "stream text differs"
    if not same(ours["plain"], ref["plain"]):
        return "result text differs"
    if ours["rich"] != ref["rich"]:
        return "rich outputs differ"
    return None


def classify_need(side: dict, earlier_sources: str) -> str | None:
    """The kind of need ("network", "missing package", "data file") one side's error shows, if any."""
    if not side["error"]:
        return None
    blob = " ".join([side["ename"], side["evalue"], side["stream"], side["stderr"]])
    for kind, pattern in NEED_PATTERNS:
        if pattern.search(blob):
            if kind == "data file":
                names = [a or b for a, b in FILENAME_IN_ERROR.findall(blob)]
                if any(os.path.basename(name) in earlier_sources for name in names if name):
                    return None  # an earlier cell makes it: our failure, not a need
            return kind
    return None


# a cell that fetches a URL and ignores the error (`resp, _ := http.Get(u)`) crashes on the
# nil response where there is no network: its need is the network all the same
FETCH_CALL = re.compile(r"\bhttp\.(?:Get|Post|Head)\s*\(|\bhttp\.DefaultClient\.(?:Get|Do)\s*\(")
NIL_RESPONSE = re.compile(r"invalid memory address or nil pointer dereference")


def crashed_fetch(side: dict, source: str) -> str | None:
    """"network" when ``side`` crashed on a nil value in a cell that fetches a URL (Go)."""
    blob = " ".join([side["ename"], side["evalue"], side["stream"], side["stderr"]])
    return "network" if side["error"] and FETCH_CALL.search(source) and NIL_RESPONSE.search(blob) else None


KEPT = ("error", "ename", "evalue", "stream", "stderr", "plain", "rich")


def rejudge(entry: dict) -> None:
    """Compare again the stored text of an entry's cells that differed only in text, with
    today's normaliser (the working directories are not stored: none is masked, so a cell can
    only turn ``same``); such a cell is marked ``rejudged`` with the reason it had. Other
    languages than Python: only cells whose stored text was not cut."""
    python = entry.get("language") == "python"
    maps, sources = UNORDERED.get(entry.get("language")), ""
    for cell in entry.get("cells", []):
        # results stored before `unordered` was: from the stored sources (their first 400 characters)
        sources += "\n" + cell.get("source", "")
        cell.setdefault("unordered", bool(maps and maps.search(sources)))
        if cell.get("verdict") != "differs" or cell.get("why") not in ("stream text differs", "result text differs"):
            continue
        ours, ref = cell.get("ours") or {}, cell.get("reference") or {}
        if ours.get("error") or ref.get("error"):
            continue
        # the other languages' stream is stdout and stderr merged, stored cut at 600 characters:
        # compared again only when neither side was cut (stdout and stderr apart are not stored)
        if not python and any(len(side.get(k) or "") >= 600 for side in (ours, ref) for k in ("stream", "plain")):
            continue
        sides = [{k: side.get(k, "") for k in ("stream", "stdout", "stderr", "plain")} | {"rich": side.get("rich", [])}
                 for side in (ours, ref)]
        if texts_match(sides[0], sides[1], (), bool(cell.get("nondeterministic")), True,
                       bool(cell.get("unordered"))) is None:
            cell["verdict"], cell["rejudged"] = "same", cell.pop("why")


def compare_notebook(entry: dict, nb, ours: dict[int, dict], refs: list[dict[int, dict]],
                     cwds: tuple[str, ...]) -> list[dict]:
    """One verdict per code cell: ``{"index", "verdict": "same"|"differs"|"excluded", ...}``.

    ``refs`` are the reference runs (``run_notebook`` results, one or more) when the notebook's
    language has a reference kernel; empty, the outputs saved in ``nb`` are the reference.
    """
    language = entry["language"]
    python = language == "python"
    ran_here = bool(refs)
    verdicts, earlier, excluded_before, excluded_words, excluded_glob = [], "", False, set(), False
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = source_of(cell)
        mine = summarise(ours[index]["outputs"], ours[index]["status"], python)
        errors_only = False
        if ran_here:
            ref = summarise(refs[0][index]["outputs"], refs[0][index]["status"], python)
            ref2 = summarise(refs[1][index]["outputs"], refs[1][index]["status"], python) if len(refs) > 1 else ref
            nondet = any(normalise(ref[k], cwds, False) != normalise(ref2[k], cwds, False)
                         for k in ("stream", "plain")) or ref["rich"] != ref2["rich"]
        else:
            ref = summarise(cell.get("outputs", []), "ok", False)
            errors_only = not has_original_run(cell)
            nondet = bool(NONDETERMINISTIC.search(source))
        unordered = bool(UNORDERED.get(language) and UNORDERED[language].search(earlier + "\n" + source))
        record = {"index": index, "source": source[:400], "seconds": ours[index]["seconds"],
                  "nondeterministic": nondet, "unordered": unordered, "errors_only": errors_only,
                  "ours": {k: mine[k] if not isinstance(mine[k], str) else mine[k][:600] for k in KEPT},
                  "reference": {k: ref[k] if not isinstance(ref[k], str) else ref[k][:600] for k in KEPT}}
        need, our_need = classify_need(ref, earlier), classify_need(mine, earlier) or crashed_fetch(mine, source)
        if need is None and (our_need in ("network", "missing package") or (our_need and not ran_here)):
            need = our_need  # a reference that ran here had the same files as ours
        why = None
        if mine["error"] != ref["error"]:
            why = "errors here, not in the original" if mine["error"] else "original errors, not here"
        elif python and mine["error"] and mine["ename"] != ref["ename"]:
            why = f"different error ({mine['ename']} vs {ref['ename']})"
        elif not errors_only:
            why = texts_match(mine, ref, cwds, nondet, python, unordered)
        if why and need is None and KERNEL_API.get(language) and KERNEL_API[language].search(source):
            need = "kernel API"
        ref_text = " ".join((ref["ename"], ref["evalue"], ref["stream"]))
        if need is None and excluded_before and ref["error"] and NAME_ERROR.search(ref_text):
            need = "cascade"
        if need is None and mine["error"] and not ref["error"]:
            named = NAME_IN_ERROR.search(" ".join((mine["ename"], mine["evalue"], mine["stream"])))
            if named and (next(g for g in named.groups() if g) in excluded_words or excluded_glob):
                need = "cascade"
        if need is not None:
            record.update(verdict="excluded", need=need)
            excluded_before = True
            excluded_words |= set(re.findall(r"\w+", source))
            excluded_glob = excluded_glob or bool(GLOB_IMPORT.search(source))
        else:
            record.update(verdict="differs" if why else "same", why=why)
        verdicts.append(record)
        earlier += "\n" + source
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=pathlib.Path, default=HERE / "manifest.json")
    parser.add_argument("--from", dest="from_dir", type=pathlib.Path,
                        help="directory holding owner__name/commit/path files (no download)")
    parser.add_argument("--cache", type=pathlib.Path,
                        default=pathlib.Path.home() / ".cache" / "dockerkernel-realnb")
    parser.add_argument("--lang", help="comma-separated languages to run (default: all)")
    parser.add_argument("--match", help="only notebooks whose repo/path contains this text")
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    parser.add_argument("--notebook-timeout", type=int, default=900,
                        help="seconds per notebook and kernel (default 900)")
    parser.add_argument("--reference-runs", type=int, default=2,
                        help="reference kernel runs per notebook (2 finds nondeterministic cells)")
    parser.add_argument("--reference-kernel", action="append", metavar="LANG=KERNELSPEC",
                        help="compare LANG's notebooks with runs of this kernelspec (found on JUPYTER_PATH) "
                             "instead of their saved outputs, e.g. bash=bash for bash_kernel; "
                             f"python is {REFERENCE_KERNEL} unless given; repeatable")
    parser.add_argument("--reference-path",
                        help="PYTHONPATH for the ipykernel reference only, e.g. a directory with "
                             "the image's IPython and a matplotlib-inline that fits its Matplotlib")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="run nothing: join earlier --json results (later files win per notebook) and summarise")
    parser.add_argument("--rejudge", action="store_true",
                        help="with --merge: compare the stored text of differing cells again with today's "
                             "normaliser (a cell only ever turns same; it is marked rejudged)")
    parser.add_argument("--json", type=pathlib.Path, help="write every cell's verdict here")
    args = parser.parse_args(argv)
    try:
        kernels = reference_kernels(args.reference_kernel)
    except ValueError as exc:
        parser.error(str(exc))

    if args.merge:
        merged: dict[tuple, dict] = {}
        for path in args.merge:
            for entry in json.loads(pathlib.Path(path).read_text())["notebooks"]:
                merged[(entry["repo"], entry["path"], entry["commit"])] = entry
        if args.rejudge:
            for entry in merged.values():
                rejudge(entry)
        order = {(e["repo"], e["path"], e["commit"]): i for i, e in enumerate(read_manifest(args.manifest))}
        results = sorted(merged.values(), key=lambda e: order.get((e["repo"], e["path"], e["commit"]), len(order)))
        summary = print_summary(results)
        if args.json:
            write_json(args, results, summary)
        return 0

    entries = read_manifest(args.manifest)
    if args.lang:
        wanted = set(args.lang.split(","))
        entries = [e for e in entries if e["language"] in wanted]
    if args.match:
        entries = [e for e in entries if args.match in e["repo"] + "/" + e["path"]]

    results, failures = [], 0
    print(f"{'cells':>5} {'excl':>4} {'same':>4} {'diff':>4}  notebook", flush=True)
    for entry in entries:
        name = f"{entry['repo']}/{entry['path']}"
        try:
            nb = load_notebook(entry, args.from_dir, args.cache)
            reference_kernel = kernels.get(entry["language"])
            with tempfile.TemporaryDirectory(prefix="realnb-") as ref_dir:
                refs = []
                for _ in range(max(1, args.reference_runs) if reference_kernel else 0):
                    refs.append(run_notebook(nb, reference_kernel, args.cell_timeout,
                                             args.notebook_timeout, ref_dir,
                                             args.reference_path if entry["language"] == "python" else None))
                with tempfile.TemporaryDirectory(prefix="realnb-") as our_dir:
                    # saved outputs came from the author's sessions: replay their restarts (a
                    # reference run, like ours, is one session)
                    restarts = set() if reference_kernel else restarts_of(nb)
                    ours = run_notebook(nb, entry["kernel"], args.cell_timeout,
                                        args.notebook_timeout, our_dir, restarts=restarts)
                    verdicts = compare_notebook(entry, nb, ours, refs,
                                                (ref_dir, our_dir, "/workspace"))
        except Exception as exc:  # a notebook that cannot be fetched or started
            failures += 1
            print(f"{'-':>5} {'-':>4} {'-':>4} {'-':>4}  {name}: {type(exc).__name__}: {exc}", flush=True)
            results.append({**entry, "failed": f"{type(exc).__name__}: {exc}", "cells": []})
            continue
        count = collections.Counter(v["verdict"] for v in verdicts)
        print(f"{len(verdicts):>5} {count['excluded']:>4} {count['same']:>4} {count['differs']:>4}  {name}",
              flush=True)
        reference = (f"{len(refs)} runs of kernelspec {reference_kernel} here" if reference_kernel
                     else "outputs saved in the notebook")
        results.append({**entry, "reference": reference, "cells": verdicts})
        if args.json:  # after every notebook, so a long run can be read while it goes
            write_json(args, results, {})

    summary = print_summary(results)
    if args.json:
        write_json(args, results, summary)
    return 1 if failures else 0


def print_summary(results: list[dict]) -> dict:
    """Print and return the per-language summary of ``results`` (notebook entries with cell verdicts).

    The percentage counts only cells whose original output is known (``errors_only`` cells, run by
    nobody before, are reported apart as same/total) and that are not excluded.
    """
    summary: dict[str, collections.Counter] = {}
    for entry in results:
        s = summary.setdefault(entry["language"], collections.Counter())
        s["notebooks"] += 1
        for v in entry["cells"]:
            s["cells"] += 1
            if v["verdict"] == "excluded":
                s["excluded"] += 1
            elif v.get("errors_only"):
                s["errors_only"] += 1
                s["errors_only_same"] += v["verdict"] == "same"
            else:
                s[v["verdict"]] += 1
    print(f"\n{'language':<11} {'nbs':>4} {'cells':>5} {'excl':>5} {'same':>5} {'diff':>5} {'%':>6}"
          f"   errors-only cells (no saved output): same/total")
    for language, s in summary.items():
        counted = s["same"] + s["differs"]
        s["percent"] = round(100.0 * s["same"] / counted, 1) if counted else 0.0
        print(f"{language:<11} {s['notebooks']:>4} {s['cells']:>5} {s['excluded']:>5} {s['same']:>5} "
              f"{s['differs']:>5} {s['percent']:>5.1f}%   {s['errors_only_same']}/{s['errors_only']}")
    return {language: dict(s) for language, s in summary.items()}


def write_json(args, results: list[dict], summary: dict) -> None:
    """Write the run's verdicts to ``args.json`` (replaced atomically)."""
    args.json.parent.mkdir(parents=True, exist_ok=True)
    partial = args.json.with_suffix(".tmp")
    for entry in results:  # a cell that runs as the original needs no evidence: keep the file small
        entry["cells"] = [{k: v[k] for k in ("index", "source", "seconds", "verdict", "errors_only", "rejudged") if k in v}
                          if v["verdict"] == "same" else v for v in entry["cells"]]
    partial.write_text(json.dumps(
        {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "command": " ".join(["python"] + sys.argv), "cell_timeout": args.cell_timeout,
         "summary": summary, "notebooks": results}, indent=1, ensure_ascii=False))
    partial.replace(args.json)


if __name__ == "__main__":
    sys.exit(main())
