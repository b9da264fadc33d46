"""Issue 13, Bash: the shell of one cell is the shell of the next, across fresh containers.

Every cell runs in a new container; what carries over does so through ``bashboot.sh`` and the
per-kernel ``/workspace/.dockerkernel/bash-state.sh``. Decided behaviour (as Python): a cell
that fails (non-zero status, ``exit N``, ``set -e``) carries what it did before it failed; a
cell killed by a limit (SIGKILL) carries nothing; restart clears; ``%state off`` neither
restores nor saves.
"""

from __future__ import annotations

import pytest

from tests.support import assert_error, assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

@pytest.fixture(scope="module")
def sh(module_kernels):
    """The module's docker-bash kernel (the shared fixture checks nothing is left after it)."""
    return module_kernels("docker-bash")


@pytest.fixture
def fresh(kernel_factory):
    """Kernels of their own (an empty state), shut down after the test, leaving nothing."""
    return lambda name="docker-bash": kernel_factory(name)


def test_issue_table_row(fresh):
    sh = fresh()
    assert_ok(sh.run('x=5; export Y=7; cd /tmp; greet(){ echo "hi $1"; }'), "")
    assert_ok(sh.run('echo "$x $Y $(pwd)"; greet ann'), "5 7 /tmp\nhi ann\n")


def test_every_kind_of_variable_round_trips(sh):
    assert_ok(sh.run(
        "s1=$'two\\nlines \"quoted\" \\'single\\' $dollar \\\\ back `tick` é'\n"
        "arr1=(zero 'one two' '' three); arr1[9]=nine\n"
        "declare -A map1=([key]='a value' ['odd key']=\"x'y\" [empty]='')\n"
        "declare -i int1=40\n"
        "declare -l low1=MiXeD\n"
        "export exp1='seen by children'\n"
        "readonly ro1=fixed\n"
        "declare -n ref1=s1\n"
        "empty1=''"
    ))
    result = sh.run(
        "printf '%s|' \"$s1\"; echo\n"
        "echo \"${#arr1[@]} ${!arr1[*]} [${arr1[1]}] [${arr1[2]}] ${arr1[9]}\"\n"
        "echo \"${map1[key]}|${map1[odd key]}|${map1[empty]}|${#map1[@]}\"\n"
        "int1+=2; echo $int1; int1='1 + 1'; echo $int1\n"
        "low1=UPPER; echo $low1\n"
        "bash -c 'echo $exp1'\n"
        "(ro1=other) 2>/dev/null; echo \"$ro1 $?\"\n"
        "echo \"${ref1:0:3}\"; declare -p empty1"
    )
    assert_ok(result)
    assert result.stream().split("\n") == [
        "two", "lines \"quoted\" 'single' $dollar \\ back `tick` é|",
        "5 0 1 2 3 9 [one two] [] nine",
        "a value|x'y||3",
        "42", "2",
        "upper",
        "seen by children",
        "fixed 1",
        "two", 'declare -- empty1=""', "",
    ], result.stream()


def test_functions_aliases_directory_and_options(sh):
    assert_ok(sh.run(
        "shopt -s extglob\n"
        "only_digits() { [[ $1 == +([0-9]) ]] && echo digits || echo other; }\n"
        "function counter_fn { echo \"called with $#\"; }\n"
        "alias hello1='echo hello from an alias'\n"
        "set -o pipefail -o noclobber\n"
        "mkdir -p sub/dir && cd sub/dir"
    ))
    result = sh.run(
        "only_digits 123; only_digits 12a; counter_fn a b\n"
        "hello1\n"
        "shopt -q extglob && echo extglob on\n"
        "false | true; echo pipefail status $?\n"
        "[[ -o noclobber ]] && echo noclobber on\n"
        "pwd; cd /workspace"
    )
    assert_ok(result, "digits\nother\ncalled with 2\nhello from an alias\nextglob on\npipefail status 1\nnoclobber on\n"
                      "/workspace/sub/dir\n")
    assert_ok(sh.run("pwd; set +o pipefail +o noclobber; shopt -u extglob"), "/workspace\n")
    # options switched back to a fresh shell's are saved as nothing, and come back off
    result = sh.run("shopt -q extglob || echo extglob off; [[ -o pipefail ]] || echo pipefail off; "
                    "[[ -o noclobber ]] || echo noclobber off")
    assert_ok(result, "extglob off\npipefail off\nnoclobber off\n")


def test_a_function_named_like_a_builtin_is_not_run_by_the_boot(sh):
    """A fork bomb defines a function `:`; the restore brings it back, and the boot must not call
    it (CI run 10: a cold sandbox's bash cells after a fork bomb hit the pids limit)."""
    assert_ok(sh.run(":() { echo 'the cell function ran'; }; true() { echo 'true ran'; }"))
    assert_ok(sh.run("echo next"), "next\n")
    assert_ok(sh.run("unset -f : true; echo cleared"), "cleared\n")


def test_an_exported_function_stays_exported(sh):
    assert_ok(sh.run("shared_fn() { echo \"from the parent: $1\"; }; export -f shared_fn; local_fn() { :; }"))
    assert_ok(sh.run("bash -c 'shared_fn child; type local_fn >/dev/null 2>&1 || echo local_fn not exported'"),
              "from the parent: child\nlocal_fn not exported\n")


def test_unset_and_unalias_are_remembered(sh):
    assert_ok(sh.run("gone1=1; alias gone2='echo x'; gone3() { :; }"))
    assert_ok(sh.run("unset gone1; unalias gone2; unset -f gone3; unset LANG"))
    result = sh.run("echo \"${gone1-unset} ${LANG-unset}\"; type gone2 gone3 2>&1 | grep -c 'not found'")
    assert_ok(result, "unset unset\n2\n")
    assert_ok(sh.run("export LANG=C.UTF-8"))


def test_redefining_replaces(sh):
    assert_ok(sh.run("rep1=old; rep_fn() { echo old; }; alias rep_al='echo old'"))
    assert_ok(sh.run("rep1=new; rep_fn() { echo new; }; alias rep_al='echo new'"))
    assert_ok(sh.run("echo $rep1; rep_fn; rep_al"), "new\nnew\nnew\n")


def test_exit_status_and_a_failing_cell_carry_what_ran(sh):
    content = assert_error(sh.run("before_exit=1; echo hi; exit 4; after_exit=1"), "ExitCode")
    assert "4" in content["evalue"]
    assert_error(sh.run("before_false=1; false"), "ExitCode")
    assert_error(sh.run("set -e; before_errexit=1; false; after_errexit=1"), "ExitCode")
    # set -e is an option like the others: it is still on in the next cell
    assert_ok(sh.run("set -o | grep -q 'errexit.*on' && echo errexit kept; set +e"), "errexit kept\n")
    assert_ok(
        sh.run('echo "$before_exit ${after_exit-no} $before_false $before_errexit ${after_errexit-no}"'),
        "1 no 1 1 no\n",
    )
    assert_error(sh.run("kill -SEGV $$"), "SIGSEGV")
    assert_ok(sh.run("echo next $before_exit"), "next 1\n")


def test_a_cell_killed_by_a_limit_carries_nothing(sh):
    assert_ok(sh.run("limit1=before"))
    try:
        assert_error(sh.run("%timeout 2\nlimit1=changed; limit2=new; sleep 30"), "CellTimeout")
    finally:
        assert_ok(sh.run("%timeout 30"))
    assert_ok(sh.run('echo "$limit1 ${limit2-unset}"'), "before unset\n")


def test_a_linked_state_file_is_not_followed(fresh):
    sh = fresh()
    assert_ok(sh.run("linked1=1"))
    # SIGKILL: the cell cannot save, so the link stays for the next cell to find
    links = "; ".join(f"ln -sf /dev/zero /workspace/.dockerkernel/bash-state.{slot}.sh" for slot in (0, 1))
    assert_error(sh.run(f"{links}; kill -KILL $$"), "SIGKILL")
    assert_ok(sh.run("echo ${linked1-fresh shell}"), "fresh shell\n")
    assert_ok(sh.run("linked1=2"))
    fifo = "cd /workspace/.dockerkernel; rm -f bash-state.*; mkfifo bash-state.0.sh bash-state.1.sh; kill -KILL $$"
    assert_error(sh.run(fifo), "SIGKILL")
    assert_ok(sh.run("echo ${linked1-fresh shell} again"), "fresh shell again\n")  # a FIFO does not block the restore
    assert_ok(sh.run("echo ${linked1-fresh shell}"), "fresh shell\n")


def test_state_off_neither_restores_nor_saves(sh):
    assert_ok(sh.run("off1=kept"))
    try:
        assert_ok(sh.run("%state off"))
        assert_ok(sh.run('echo "${off1-unset}"; off2=lost'), "unset\n")
    finally:
        assert_ok(sh.run("%state on"))
    assert_ok(sh.run('echo "$off1 ${off2-unset}"'), "kept unset\n")


def test_restart_clears_state(fresh):
    sh = fresh()
    assert_ok(sh.run("gone_after_restart=1; cd /tmp"))
    assert_ok(sh.run("echo $gone_after_restart"), "1\n")
    sh.km.restart_kernel(now=False)
    sh.kc.stop_channels()
    sh.kc = sh.km.client()
    sh.kc.start_channels()
    sh.kc.wait_for_ready(timeout=120)
    assert_ok(sh.run('echo "${gone_after_restart-unset} $PWD"'), "unset /workspace\n")


def test_polyglot_bash_cells_share_a_shell(fresh):
    poly = fresh("docker-polyglot")
    assert_ok(poly.run('%%bash\nx=5; export Y=7; cd /tmp; greet(){ echo "hi $1"; }'))
    assert_ok(poly.run("%%python\nprint('between')"), "between\n")
    assert_ok(poly.run('%%bash\necho "$x $Y $(pwd)"; greet ann'), "5 7 /tmp\nhi ann\n")
    # in docker-python, %%bash is IPython's (a subprocess of the cell, as under ipykernel):
    # it sees the Python cells' working directory, not a carried shell
    py = fresh("docker-python")
    assert_ok(py.run("%%bash\nfrom_py_kernel=1"))
    assert_ok(py.run("%%bash\necho ${from_py_kernel:-unset}"), "unset\n")


def test_large_and_multibyte_cells_arrive_whole(sh):
    # over 64 KiB the source is read by one `cat`, below by `read -N` (bytes, not characters)
    big = ": " + "é" * 40000 + "\nbig1=$'ü\\n'; echo \"${#big1} done\""
    assert_ok(sh.run(big), "2 done\n")
    assert_ok(sh.run("echo -n \"$big1\" | od -An -tx1 | tr -d ' \\n'; echo"), "c3bc0a\n")


def test_reply_metadata_and_state_magic_say_what_was_carried(fresh):
    sh = fresh()
    result = sh.run("meta1=1; meta_fn() { :; }; alias meta_al=true")
    assert_ok(result, "")
    report = result.reply["metadata"]["dockerkernel"]["state"]
    assert report["language"] == "bash" and report["not_carried"] == {}, report
    carried = report["carried"]
    assert carried["functions"] == 1 and carried["aliases"] == 1 and carried["variables"] >= 1, carried
    assert carried["count"] == carried["variables"] + 2 and carried["bytes"] > 0, carried
    shown = sh.run("%state")
    assert_ok(shown)
    assert "state is on" in shown.stream() and f"bash: {carried['count']} carried" in shown.stream(), shown.stream()
    off = sh.run("%state off")
    assert_ok(off)
    assert "state" not in sh.run("echo x").reply["metadata"]["dockerkernel"]  # nothing saved, nothing reported
    assert_ok(sh.run("%state on"))


def test_a_cell_that_fills_tmp_keeps_the_previous_state(sh):
    assert_ok(sh.run("full1=kept"))
    result = sh.run("full1=changed; dd if=/dev/zero of=/tmp/big bs=1M count=100 2>/dev/null; echo filled")
    assert_ok(result, "filled\n")
    assert "previous one is kept" in result.stream("stderr"), result.stream("stderr")
    assert_ok(sh.run('echo "$full1"; ls -d /workspace'), "kept\n/workspace\n")  # and PATH is intact


def test_state_saved_before_a_limit_struck_is_not_restored(sh):
    """The launcher of a fork bomb ends (and saves) at once; its orphans then hit the pids limit:
    the cell ended by a limit, so what it saved is passed over (DK_STATE_DISCARD), `:` included."""
    assert_ok(sh.run("orphan1=before"))
    result = sh.run("orphan1=changed; :(){ :|:& };:\necho launched")
    assert_error(result, "PidsLimitExceeded")
    assert_ok(sh.run('echo "$orphan1"; type -t : '), "before\nbuiltin\n")
    assert_ok(sh.run("orphan1=after"))
    assert_ok(sh.run('echo "$orphan1"'), "after\n")


def test_dollar_zero_is_bash_as_in_bash_kernel(sh):
    """`$0` in a cell and in its functions is the shell's name, not the boot's file (real notebooks print it)."""
    assert_ok(sh.run('show0() { echo "$0 $1"; }; echo "$0"; show0 a'), "bash\nbash a\n")
    assert_ok(sh.run("show0 b"), "bash b\n")
