"""Java cells in the warm JVM (images/java/DkWarm.java), against the real daemon.

The cell is compiled by the compiler already loaded in the pool container and its main runs in
that JVM: what `java Main` does must still hold (threads, exit statuses, shutdown hooks, the
environment of the program and of the processes it starts, compiler warnings, traces).
"""

from __future__ import annotations

import re

import pytest

from tests.support.kernels import assert_error, assert_ok

pytestmark = [pytest.mark.docker, pytest.mark.images("java")]


@pytest.fixture(scope="module")
def java(module_kernels):
    return module_kernels("docker-java")


def test_the_cell_runs_in_the_warm_jvm(java):
    # the JVM's command line is the warm one, not `java -cp /tmp/dk Main`
    result = assert_ok(java.run(
        'System.out.println(ProcessHandle.current().info().arguments().map(a -> String.join(" ", a)).orElse("?"));'))
    assert "DkWarm" in result.stream(), result.stream()


def test_the_environment_reaches_getenv_and_started_processes(java):
    assert_ok(java.run("%env DK_WARM_TEST=from the kernel"))
    assert_ok(java.run(
        'System.out.println(System.getenv("DK_WARM_TEST"));\n'
        'new ProcessBuilder("sh", "-c", "echo child: $DK_WARM_TEST").inheritIO().start().waitFor();'),
        "from the kernel\nchild: from the kernel\n")


def test_a_started_process_reads_the_cells_stdin_file(java):
    assert_ok(java.run("%%file warm-input.txt\nfed line\n"))
    assert_ok(java.run('%stdin warm-input.txt\nnew ProcessBuilder("cat").inheritIO().start().waitFor();'), "fed line\n")


def test_a_non_daemon_thread_outlives_main(java):
    assert_ok(java.run(
        'new Thread(() -> { try { Thread.sleep(300); } catch (InterruptedException e) { }\n'
        '    System.out.println("late"); }).start();\nSystem.out.println("early");'), "early\nlate\n")


def test_an_exception_in_another_thread_is_printed_and_main_decides_the_status(java):
    # a whole program: a notebook program's cell runs in Main's static initializer, which a
    # thread running Main's lambda would wait for (as under `java Main`)
    result = assert_ok(java.run(
        "public class Main { public static void main(String[] a) throws Exception {\n"
        '    Thread t = new Thread(() -> { throw new IllegalStateException("side"); });\n'
        '    t.start(); t.join(); System.out.println("main done"); } }'), "main done\n")
    stderr = result.stream("stderr")
    assert re.search(r'Exception in thread "Thread-\d+" java\.lang\.IllegalStateException: side', stderr), stderr


CAUSED = 'throw new IllegalStateException("outer", new RuntimeException("inner"));'
TRACED = {
    "notebook cell": ('System.out.println("before");\n' + CAUSED, None),
    "whole program": ("public class Main { public static void main(String[] a) {\n"
                      '    System.out.println("before");\n    ' + CAUSED + " } }",
                      r"at Main\.main\(Cell In\[\d+\]:3\)"),
}


@pytest.mark.parametrize("kind", list(TRACED))
def test_a_trace_shows_the_program_frames_only(java, kind):
    """Java's own trace of an uncaught exception, its cause included, without DkWarm's or the JDK's frames."""
    code, frame = TRACED[kind]
    result = java.run(code)
    content = assert_error(result, "java.lang.IllegalStateException")
    trace = "\n".join(content["traceback"])
    assert trace.startswith('Exception in thread "main" java.lang.IllegalStateException: outer'), trace
    assert "Caused by: java.lang.RuntimeException: inner" in trace, trace
    assert "DkWarm" not in trace and "java.base" not in trace, trace
    assert frame is None or re.search(frame, trace), trace
    assert result.stream() == "before\n"


def test_system_exit_from_another_thread_ends_with_its_status(java):
    result = java.run("public class Main { public static void main(String[] a) throws Exception {\n"
                      "    new Thread(() -> System.exit(4)).start();\n"
                      '    Thread.sleep(10000); System.out.println("not here"); } }')
    content = assert_error(result, "ExitCode")
    assert "4" in content["evalue"], content
    assert result.stream() == ""


def test_a_shutdown_hook_still_prints(java):
    assert_ok(java.run('Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("bye")));\n'
                       'System.out.println("hi");'), "hi\nbye\n")


def test_compiler_warnings_are_shown_as_the_cells_and_the_program_runs(module_kernels):
    kernel = module_kernels("docker-java", "--DockerKernel.keep_state=False")
    assert_ok(kernel.run("%cflags -Xlint:unchecked"))
    result = assert_ok(kernel.run(
        "public class Main { public static void main(String[] a) {\n"
        "    java.util.List l = new java.util.ArrayList(); l.add(1); System.out.println(l); } }"), "[1]\n")
    stderr = result.stream("stderr")
    assert re.search(r"Cell In\[\d+\]:2: warning: \[unchecked\]", stderr), stderr
    assert "/tmp/dk" not in stderr and "Main.java" not in stderr, stderr


def test_a_program_without_the_notebook_mark_compiles_and_fails_as_javac(java):
    content = assert_error(java.run("public class Main { public static void main(String[] a) { int x = \"s\"; } }"),
                           "CompileError")
    assert "incompatible types" in content["evalue"], content
