"""dkbuild's filter of rustc warnings about the lines a notebook program adds (a pure function)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dockerkernel

_PATH = Path(dockerkernel.__file__).parent / "incontainer" / "dkbuild.py"
_SPEC = importlib.util.spec_from_file_location("dkbuild", _PATH)
dkbuild = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(dkbuild)

SOURCE = """fn main() { let v = 1; let w = 2;
panic!("boom");
(&DkSave("v", &v)).dk_save(); //dk:alt@3:dk_forget("v", "x");
}
"""

# rustc 1.63 (the rust image) on SOURCE, captured once (the runner passes the file's full path)
RUSTC = """warning: unreachable statement
 --> /tmp/dk/cell.rs:3:1
  |
2 | panic!("boom");
  | -------------- any code following this expression is unreachable
3 | (&DkSave("v", &v)).dk_save(); //dk:alt@3:dk_forget("v", "x");
  | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ unreachable statement
  |
  = note: `#[warn(unreachable_code)]` on by default

warning: unused variable: `w`
 --> cell.rs:1:28
  |
1 | fn main() { let v = 1; let w = 2;
  |                            ^ help: if this is intentional, prefix it with an underscore: `_w`

warning: 2 warnings emitted

"""


def test_a_warning_about_a_generated_save_is_dropped_and_the_count_lowered():
    out = dkbuild.drop_generated_warnings(RUSTC, SOURCE.split("\n"), "cell.rs")
    assert "unreachable" not in out
    assert "unused variable: `w`" in out  # the user's own warning stays
    assert "warning: 1 warning emitted" in out


def test_the_summary_goes_when_no_warning_is_left():
    only = RUSTC.split("\n\nwarning: unused")[0] + "\n\nwarning: 1 warning emitted\n\n"
    assert dkbuild.drop_generated_warnings(only, SOURCE.split("\n"), "cell.rs").strip() == ""


def test_an_error_summary_loses_only_its_warning_count():
    failed = RUSTC.split("\n\nwarning: unused")[0] + "\n\nerror: aborting due to previous error; 1 warning emitted\n\n"
    out = dkbuild.drop_generated_warnings(failed, SOURCE.split("\n"), "cell.rs")
    assert out.strip() == "error: aborting due to previous error"


def test_output_without_generated_lines_is_unchanged():
    plain = "warning: unused variable: `w`\n --> cell.rs:1:28\n\nwarning: 1 warning emitted\n\n"
    assert dkbuild.drop_generated_warnings(plain, SOURCE.split("\n"), "cell.rs") == plain


# g++ 12 (the cpp image) when `class MyClass` was defined again after a plain-data MyClass was
# carried, captured once (dockerkernel/images/cpp/dkprelude.hpp's load, instantiated from the header)
GXX_STATE = """/opt/dockerkernel/cpp/dkprelude.hpp: In instantiation of 'T dk::load(const char*) [with T = MyClass]':
/workspace/.dockerkernel/cpp/state_late.hpp:2:38:   required from here
/opt/dockerkernel/cpp/dkprelude.hpp:236:58: error: 'get' is not a member of 'dk::codec<MyClass, void>'
  236 |   if (!f) { std::istringstream none; return codec<T>::get(none); }
/opt/dockerkernel/cpp/dkprelude.hpp:237:23: error: 'get' is not a member of 'dk::codec<MyClass, void>'
"""
HEADER = ['// written by the previous cell\'s program: the variables it carried',
          'const MyClass foo = dk::load<MyClass>("foo");',
          'int grid[2][3]; static const bool dk_loaded_grid = dk::load_into("grid", grid);',
          'inline void dk_save_carried_late() { DK_SAVE(foo); DK_SAVE(grid); }']


def test_errors_from_a_carried_value_blame_its_state_line():
    assert dkbuild.blamed_state_lines(GXX_STATE) == {"/workspace/.dockerkernel/cpp/state_late.hpp": {2}}
    # one error of the cell's own: nothing is blamed on the state (it is reported as it is)
    own = "Cell In[4]:1:5: error: 'nope' was not declared in this scope\n"
    assert dkbuild.blamed_state_lines(GXX_STATE + own) is None
    assert dkbuild.blamed_state_lines("") is None


def test_forgetting_a_state_line_drops_the_variable_and_its_save():
    lines = list(HEADER)
    notice = dkbuild.forget_state_line(lines, 2)
    assert notice.startswith("dockerkernel: foo (MyClass) is not carried to the next cell: ")
    assert lines[1] == "" and lines[3] == "inline void dk_save_carried_late() { DK_SAVE(grid); }"
    assert dkbuild.forget_state_line(lines, 3).startswith("dockerkernel: grid (int) is not carried")
    assert lines[3] == "inline void dk_save_carried_late() { }"
    assert dkbuild.forget_state_line(lines, 4) is None and dkbuild.forget_state_line(lines, 9) is None
