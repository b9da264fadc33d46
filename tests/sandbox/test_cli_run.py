"""`dockerkernel run FILE` behaves exactly as a cell: every language by its extension, the program's exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.images("python", "javascript", "bash", "ruby", "c", "cpp", "go", "rust",
                                                     "java")]

HELLO = {
    "hello.py": 'print("hello from python")',
    "hello.js": 'console.log("hello from javascript")',
    "hello.mjs": 'console.log("hello from javascript")',
    "hello.sh": "echo hello from bash",
    "hello.rb": 'puts "hello from ruby"',
    "hello.c": '#include <stdio.h>\nint main(void) { printf("hello from c\\n"); return 0; }\n',
    "hello.cpp": '#include <iostream>\nint main() { std::cout << "hello from cpp" << std::endl; }\n',
    "hello.go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello from go") }\n',
    "hello.rs": 'fn main() { println!("hello from rust"); }\n',
    "Hello.java": 'public class Hello {\n  public static void main(String[] a) {\n'
                  '    System.out.println("hello from java");\n  }\n}\n',
}
BROKEN = {
    "broken.c": "int main(void) { return x; }\n",
    "broken.cpp": "int main() { return y; }\n",
    "broken.go": "package main\n\nfunc main() { x := 1 }\n",
    "broken.rs": "fn main() { let x: i32 = \"s\"; }\n",
    "Broken.java": "public class Broken { public static void main(String[] a) { int x = \"s\"; } }\n",
}


def run(path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dockerkernel", "run", str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", HELLO)
def test_one_file_per_language_runs(tmp_path, images, name):
    path = tmp_path / name
    path.write_text(HELLO[name])
    done = run(path)
    lang = {"mjs": "javascript", "js": "javascript", "py": "python", "sh": "bash", "rb": "ruby", "rs": "rust"}
    suffix = name.rsplit(".", 1)[1]
    assert (done.returncode, done.stdout) == (0, f"hello from {lang.get(suffix, suffix)}\n"), done.stderr


@pytest.mark.parametrize("name", BROKEN)
def test_compile_errors_are_shown_with_a_nonzero_status(tmp_path, images, name):
    path = tmp_path / name
    path.write_text(BROKEN[name])
    done = run(path)
    assert done.returncode != 0 and done.stdout == "", done
    assert name in done.stderr and "Cell In[" not in done.stderr, done.stderr


def test_the_exit_status_is_the_programs(tmp_path, images):
    path = tmp_path / "exit.sh"
    path.write_text("echo out\necho err >&2\nexit 3\n")
    done = run(path)
    assert (done.returncode, done.stdout) == (3, "out\n") and "err\n" in done.stderr


def test_a_timeout_is_124(tmp_path, images):
    path = tmp_path / "slow.py"
    path.write_text("import time\ntime.sleep(60)\n")
    done = run(path, "--timeout", "1")
    assert done.returncode == 124 and "CellTimeout" in done.stderr, done


def test_an_unknown_extension_says_to_use_lang(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("echo hi")
    done = run(path)
    assert done.returncode == 2 and "--lang" in done.stderr and "Traceback" not in done.stderr
