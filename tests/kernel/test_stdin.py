"""A program that reads its stdin asks the notebook, in every language (and batch runs can feed it).

Each language reads the way its beginners do (scanf, cin, Scanner, fmt.Scan, read_line, gets,
read). With a frontend that answers (allow_stdin), each read becomes an input_request whose
prompt is already visible; without one the read gets end-of-file at once; ``%stdin FILE``
feeds a workspace file with any frontend.
"""

from __future__ import annotations

import queue
import re
import time

import pytest

from tests.support.kernels import KernelHandle
from tests.support.objects import wait_until

pytestmark = [
    pytest.mark.docker,
    pytest.mark.images("c", "cpp", "java", "go", "rust", "ruby", "bash", "python", "javascript"),
]

# two reads, each after a prompt written without a newline
TWO_READS = {
    "c": 'int a, b; printf("a? "); scanf("%d", &a); printf("b? "); scanf("%d", &b); printf("%d\\n", a * b);',
    "cpp": 'int a, b; cout << "a? "; cin >> a; cout << "b? "; cin >> b; cout << a * b << endl;',
    "java": ('var sc = new java.util.Scanner(System.in); System.out.print("a? "); int a = sc.nextInt();\n'
             'System.out.print("b? "); int b = sc.nextInt(); System.out.println(a * b);'),
    "go": ('import "fmt"\n\nfunc main() {\n\tvar a, b int\n\tfmt.Print("a? ")\n\tfmt.Scan(&a)\n'
           '\tfmt.Print("b? ")\n\tfmt.Scan(&b)\n\tfmt.Println(a * b)\n}'),
    "rust": ('use std::io::{self, Write};\nlet mut a = String::new(); let mut b = String::new();\n'
             'print!("a? "); io::stdout().flush().unwrap(); io::stdin().read_line(&mut a).unwrap();\n'
             'print!("b? "); io::stdout().flush().unwrap(); io::stdin().read_line(&mut b).unwrap();\n'
             'println!("{}", a.trim().parse::<i64>().unwrap() * b.trim().parse::<i64>().unwrap());'),
    "ruby": 'print "a? "\na = gets.to_i\nprint "b? "\nb = gets.to_i\nputs a * b',
    "bash": 'read -p "a? " a\nread -p "b? " b\necho $((a * b))',
    "javascript": ('const rl = require("readline").createInterface({ input: process.stdin, output: process.stdout });\n'
                   'rl.question("a? ", (a) => rl.question("b? ", (b) => { console.log(a * b); rl.close(); }));'),
    "python": ('import sys\nprint("a? ", end="", flush=True)\na = int(sys.stdin.readline())\n'
               'print("b? ", end="", flush=True)\nb = int(sys.stdin.readline())\nprint(a * b)'),
}
# one line, or "eof" at end of file
ONE_LINE = {
    "c": 'char s[100]; if (!fgets(s, sizeof s, stdin)) puts("eof"); else printf("got %s", s);',
    "cpp": 'string s; if (!getline(cin, s)) cout << "eof" << endl; else cout << "got " << s << endl;',
    "java": ('var sc = new java.util.Scanner(System.in);\n'
             'System.out.println(sc.hasNextLine() ? "got " + sc.nextLine() : "eof");'),
    "go": ('import (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\ts := bufio.NewScanner(os.Stdin)\n'
           '\tif s.Scan() {\n\t\tfmt.Println("got " + s.Text())\n\t} else {\n\t\tfmt.Println("eof")\n\t}\n}'),
    "rust": ('let mut s = String::new(); let n = std::io::stdin().read_line(&mut s).unwrap();\n'
             'if n == 0 { println!("eof"); } else { println!("got {}", s.trim_end()); }'),
    "ruby": 's = gets\nputs(s.nil? ? "eof" : "got #{s.chomp}")',
    "bash": 'if read -r s; then echo "got $s"; else echo eof; fi',
    "javascript": ('const rl = require("readline").createInterface({ input: process.stdin });\nlet got = null;\n'
                   'rl.once("line", (line) => { got = line; rl.close(); });\n'
                   'rl.on("close", () => console.log(got === null ? "eof" : "got " + got));'),
    "python": 'import sys\ns = sys.stdin.readline()\nprint("got " + s.rstrip("\\n") if s else "eof")',
}
LANGUAGES = sorted(TWO_READS)


@pytest.fixture(scope="module")
def kernel_of(module_kernels):
    """One kernel per language for the whole module, started on first use."""
    return lambda language: module_kernels(f"docker-{language}")


class Conversation:
    """Runs one cell as a frontend that answers: what was asked, and what was visible by then."""

    def __init__(self, handle: KernelHandle, answers: list[str | None], interrupt: bool = False):
        self.handle, self.answers, self.interrupt = handle, list(answers), interrupt
        self.screen = ""  # stdout and stderr as a terminal shows them (bash's `read -p` prompts on stderr)
        self.stdout = ""
        self.errors: list[dict] = []
        self.asked: list[dict] = []  # {"prompt", "password", "visible"}: stdout shown when asked
        self.idle = False

    def _drain_iopub(self, msg_id: str, wait: float) -> bool:
        """Take iopub messages of the cell for up to ``wait`` s; True when it went idle."""
        deadline = time.monotonic() + wait
        while True:
            try:
                msg = self.handle.kc.get_iopub_msg(timeout=max(0.0, min(0.02, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    return False
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                self.screen += msg["content"]["text"]
                if msg["content"]["name"] == "stdout":
                    self.stdout += msg["content"]["text"]
            elif kind == "error":
                self.errors.append(msg["content"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                self.idle = True
                return True

    def run(self, code: str, timeout: float = 120) -> dict:
        kc = self.handle.kc
        msg_id = kc.execute(code, allow_stdin=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                request = kc.get_stdin_msg(timeout=0.02)
            except queue.Empty:
                if self.idle or self._drain_iopub(msg_id, 0.02):
                    return kc.get_shell_msg(timeout=30)["content"]
                continue
            # a person reads the screen before typing: give the prompt a moment to arrive (iopub
            # and stdin are separate sockets, so the request may overtake the stream message)
            wait_until(lambda: self._drain_iopub(msg_id, 0.02) or self.screen.endswith("? "), timeout=3, interval=0.01)
            self.asked.append({**request["content"], "visible": self.screen})
            if self.interrupt:
                self.handle.km.interrupt_kernel()
                continue
            answer = self.answers.pop(0) if self.answers else None
            kc.input("\x04" if answer is None else answer)
        raise AssertionError(f"the cell did not end within {timeout} s; asked {self.asked}, screen {self.screen!r}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_read_asks_after_its_prompt_is_visible(kernel_of, language):
    talk = Conversation(kernel_of(language), ["6", "7"])
    reply = talk.run(TWO_READS[language])
    assert reply["status"] == "ok", (reply, talk.errors, talk.stdout)
    # (the state notices, "dockerkernel: sc ... is not carried", are not the program's screen;
    # they come on stderr, which the daemon copies apart from stdout, so one can land in the
    # middle of a stdout line: "a? b? " + notice + "42\n", seen once in CI for Java)
    screen = re.sub(r"dockerkernel: [^\n]*\n", "", talk.screen)
    assert screen == "a? b? 42\n", talk.screen
    assert len(talk.asked) == 2, talk.asked  # one question per read, never a spurious third
    assert talk.asked[0]["visible"].endswith("a? "), talk.asked
    assert talk.asked[1]["visible"].endswith("b? "), talk.asked
    assert not any(ask["password"] for ask in talk.asked)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_answer_reaches_the_program(kernel_of, language):
    talk = Conversation(kernel_of(language), ["hello world"])
    reply = talk.run(ONE_LINE[language])
    assert reply["status"] == "ok", (reply, talk.errors)
    assert talk.stdout == "got hello world\n"
    assert len(talk.asked) == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_answer_is_end_of_file(kernel_of, language):
    talk = Conversation(kernel_of(language), [None])  # Ctrl-D in jupyter console
    reply = talk.run(ONE_LINE[language])
    assert reply["status"] == "ok", (reply, talk.errors)
    assert talk.stdout == "eof\n"


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_a_frontend_that_answers_reads_get_eof_at_once(kernel_of, language):
    result = kernel_of(language).run(ONE_LINE[language], timeout=60)  # allow_stdin=False, as nbconvert
    assert result.status == "ok", result.reply["content"]
    assert result.stream() == "eof\n"


@pytest.mark.parametrize("language", LANGUAGES)
def test_percent_stdin_feeds_a_workspace_file(kernel_of, language):
    handle = kernel_of(language)
    written = handle.run("%%file answers.txt\nfed from a file\n")
    assert written.status == "ok", written.reply["content"]
    result = handle.run("%stdin answers.txt\n" + ONE_LINE[language], timeout=60)
    assert result.status == "ok", (result.reply["content"], result.stream("stderr"))
    assert result.stream() == "got fed from a file\n"
    # one cell only: the next cell reads the frontend (none here) again
    assert kernel_of(language).run(ONE_LINE[language]).stream() == "eof\n"


@pytest.mark.parametrize("language", ["c", "java", "ruby", "bash"])
def test_interrupt_while_waiting_for_the_user(kernel_of, language):
    handle = kernel_of(language)
    talk = Conversation(handle, [], interrupt=True)
    reply = talk.run(ONE_LINE[language], timeout=60)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    after = handle.run(ONE_LINE[language])
    assert after.status == "ok" and after.stream() == "eof\n"


def test_echo_off_asks_for_a_password(kernel_of):
    talk = Conversation(kernel_of("bash"), ["s3cret"])
    reply = talk.run('read -s -p "token? " t\necho\necho "${#t} characters"')
    assert reply["status"] == "ok", (reply, talk.errors)
    assert talk.asked and talk.asked[0]["password"] is True, talk.asked
    assert talk.screen.endswith("6 characters\n")


def test_python_input_is_fed_by_percent_stdin(kernel_of):
    handle = kernel_of("python")
    assert handle.run("%%file names.txt\nada\ngrace\n").status == "ok"
    result = handle.run('%stdin names.txt\nprint(input("first? "), input("second? "))')
    assert result.status == "ok", result.reply["content"]
    assert result.stream().endswith("ada grace\n")
