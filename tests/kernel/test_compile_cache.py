"""An unchanged compiled program is not compiled twice: the runner reuses the build it kept.

The build is kept in the kernel's own workspace under a key of image, compiler argv, file name
and source; the tests observe reuse by changing the kept binary from a Bash cell (which only
this kernel's cells can do) and running the same source again.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.images("c", "go", "rust", "bash")]

KEPT = "/workspace/.dockerkernel/compiled"
REPLACE_KEPT = (
    "%%bash\n"
    f"for d in {KEPT}/*/; do\n"
    '  printf "#!/bin/sh\\necho reused\\n" > "$d/cell"; chmod +x "$d/cell"\n'
    "done\n"
    f"ls {KEPT} | wc -l"
)


@pytest.fixture
def polyglot(kernel_factory):
    return kernel_factory("docker-polyglot")


@pytest.mark.parametrize("language, source", [
    ("c", 'puts("original");'),
    ("go", 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("original") }'),
    ("rust", 'fn main() { println!("original"); }'),
])
def test_the_same_source_runs_the_kept_build(polyglot, language, source):
    first = polyglot.run(f"%%{language}\n{source}")
    assert first.status == "ok" and first.stream() == "original\n", (first.reply["content"], first.stream("stderr"))
    kept = polyglot.run(REPLACE_KEPT)
    assert kept.status == "ok" and int(kept.stream().strip()) >= 1, kept.stream()
    again = polyglot.run(f"%%{language}\n{source}")
    assert again.stream() == "reused\n"  # the kept build ran: no compiler
    changed = polyglot.run(f"%%{language}\n{source.replace('original', 'changed')}")
    assert changed.stream() == "changed\n"  # a new source is compiled


def test_warnings_are_shown_again_and_failures_are_not_kept(polyglot):
    # whole programs: a cell of statements joins the notebook program, whose text changes
    warns = "#include <stdio.h>\nint main(void) { int unused = 1; puts(\"ran\"); return 0; }"
    for _ in range(2):
        result = polyglot.run(f"%%c\n{warns}")
        assert result.status == "ok" and result.stream() == "ran\n"
        assert "unused" in result.stream("stderr"), result.stream("stderr")
    broken = "int main(void) { int x = ; return 0; }"
    for _ in range(2):
        result = polyglot.run(f"%%c\n{broken}")
        assert result.reply["content"]["ename"] == "CompileError"
    count = polyglot.run(f"%%bash\nls {KEPT} | wc -l")
    assert count.stream().strip() == "1"  # only the program that compiled


def test_restart_forgets_the_kept_builds(polyglot):
    assert polyglot.run('%%c\nputs("x");').stream() == "x\n"
    polyglot.km.restart_kernel(now=False)
    polyglot.kc.wait_for_ready(timeout=120)
    listing = polyglot.run(f"%%bash\nls {KEPT} 2>/dev/null | wc -l")
    assert listing.stream().strip() == "0"
