"""What a user sees when a cell fails: one error message, the right summary, bad configuration refused early."""

from __future__ import annotations

import subprocess
import time

import pytest
from jupyter_client.manager import KernelManager

from tests.support import assert_error

pytestmark = [pytest.mark.docker, pytest.mark.images("c", "cpp", "go", "rust", "java")]

PANICS = {
    "go": ('import "fmt"\nfunc main() {\n\tfmt.Println("before")\n\tpanic("boom")\n}', "Panic", "panic: boom"),
    "rust": ('println!("before");\npanic!("boom");', "Panic", "thread 'main' panicked at 'boom'"),
    "java": ('System.out.println("before");\nthrow new IllegalStateException("boom");',
             "java.lang.IllegalStateException", 'Exception in thread "main" java.lang.IllegalStateException: boom'),
}


@pytest.mark.parametrize("lang", PANICS)
def test_a_panic_is_one_error_message_carrying_the_traceback(module_kernels, lang):
    """No stderr stream repeating the traceback next to the error (jupyter_kernel_test's expectation)."""
    code, ename, first = PANICS[lang]
    result = module_kernels(f"docker-{lang}").run(code)
    content = assert_error(result, ename)
    assert content["traceback"][0].startswith(first), content
    assert result.stream("stderr") == "", result.messages
    assert result.stream("stdout") == "before\n"
    assert [m["msg_type"] for m in result.messages] == ["stream", "error"]


@pytest.mark.parametrize(
    "lang,code,expected",
    [
        ("c", "foo();\nint x = 1\nreturn x;", "error: expected"),
        ("rust", "let y = 1;\nlet x = 1;\nx = 2;\nprintln!(\"{}\", x);", "error[E0384]"),
    ],
)
def test_compile_error_summary_is_the_first_error_not_a_warning(module_kernels, lang, code, expected):
    content = assert_error(module_kernels(f"docker-{lang}").run(code), "CompileError")
    assert expected in content["evalue"] and "warning" not in content["evalue"], content
    assert any("warning" in line for line in content["traceback"]), content  # the warning is still shown


def test_cpp_language_info_is_cplusplus(module_kernels):
    handle = module_kernels("docker-cpp")
    handle.kc.kernel_info()
    info = handle.kc.get_shell_msg(timeout=60)["content"]["language_info"]
    assert (info["name"], info["pygments_lexer"], info["codemirror_mode"]) == ("c++", "cpp", "text/x-c++src")


def test_a_bad_configuration_value_stops_the_kernel_naming_the_trait():
    manager = KernelManager(kernel_name="docker-python")
    manager.start_kernel(extra_arguments=["--DockerKernel.mem_limit=lots"], stderr=subprocess.PIPE)
    try:
        process = manager.provisioner.process
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.poll() not in (None, 0)
        err = process.stderr.read().decode()
        assert "DockerKernel.mem_limit='lots' is not a size" in err, err
    finally:
        manager.cleanup_resources()
