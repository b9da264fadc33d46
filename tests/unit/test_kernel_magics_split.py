"""magics.split_kernel_magics: what the kernel takes from a Python (IPython) cell, what it leaves."""

from __future__ import annotations

from dockerkernel import magics


def names(found):
    return [(m.name, m.args, m.cell, m.line_number) for m in found]


def test_kernel_magics_are_taken_and_blanked_ipython_ones_stay():
    found, body = magics.split_kernel_magics("%timeout 5\n%time x = 1\n# note\n%memory 1g\nprint(x)\n%cpus 2")
    assert names(found) == [("timeout", "5", False, 1), ("memory", "1g", False, 4)]
    # line numbers kept; a kernel magic after the first statement is IPython's to report
    assert body == "\n%time x = 1\n# note\n\nprint(x)\n%cpus 2"


def test_lsmagic_is_answered_by_both_sides():
    found, body = magics.split_kernel_magics("%lsmagic")
    assert names(found) == [("lsmagic", "", False, 1)] and body == "%lsmagic"


def test_cell_magics_stay_unless_they_switch_the_language():
    found, body = magics.split_kernel_magics("%timeout 3\n%%time\nx = 1", cell_magics={"ruby"})
    assert names(found) == [("timeout", "3", False, 1)] and body == "\n%%time\nx = 1"
    found, body = magics.split_kernel_magics("%timeout 3\n%%ruby\nputs 1", cell_magics={"ruby"})
    assert names(found) == [("timeout", "3", False, 1), ("ruby", "", True, 2)] and body == "puts 1"


def test_env_is_the_kernels_only_when_asked():
    assert names(magics.split_kernel_magics("%env A=1")[0]) == []
    assert names(magics.split_kernel_magics("%env A=1", also=("env",))[0]) == [("env", "A=1", False, 1)]


def test_help_text_says_which_side_runs_what():
    text = magics.help_text(in_container=True)
    assert "Kernel-side magics" in text and "%timeout" in text and "%lsmagic lists them" in text
    assert "%env NAME" not in text  # IPython's %env in Python cells
