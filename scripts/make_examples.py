"""Write the example notebooks of the compiled/extra languages, polyglot, plotting, input and display.

    python scripts/make_examples.py        # (re)writes examples/*.ipynb listed below, without outputs

hello-python/javascript/bash.ipynb are edited by hand and not touched here.
"""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from dockerkernel.languages import LANGUAGES  # noqa: E402

INTRO = (
    "# Hello, {title} in Docker\n\nThis notebook runs on the **`{kernel}`** kernel of dockerkernel: every cell is a whole "
    "program that is {how} in a **fresh, locked-down container** (no network, read-only root, non-root user, "
    "memory/CPU/time limits). Files in `/workspace` persist between cells; nothing else does."
)

HELLO = {
    "ruby": ("Ruby", "run", [
        'puts "hello, world"',
        'File.write("greeting.txt", "written by one container")\nputs "wrote greeting.txt"',
        'puts File.read("greeting.txt")',
        '$stderr.puts "a warning on stderr"',
        '%limits',
    ]),
    "c": ("C", "compiled and run", [
        '#include <stdio.h>\n\nint main(void) {\n    printf("hello, world\\n");\n    return 0;\n}',
        '// A cell that is only statements is wrapped in main() (see the README).\nFILE *f = fopen("squares.csv", "w");\nfor (int i = 1; i <= 5; i++) fprintf(f, "%d,%d\\n", i, i * i);\nfclose(f);\nputs("wrote squares.csv");',
        'char line[64];\nFILE *f = fopen("squares.csv", "r");\nwhile (fgets(line, sizeof line, f)) fputs(line, stdout);',
        '%cflags -O2\nprintf("sqrt(2) = %.6f\\n", sqrt(2.0));',
        '%limits',
    ]),
    "cpp": ("C++", "compiled and run", [
        '#include <iostream>\n\nint main() {\n    std::cout << "hello, world" << std::endl;\n}',
        '// statements only: wrapped in main() with the usual headers and `using namespace std`\nvector<int> v{5, 3, 9, 1};\nsort(v.begin(), v.end());\nfor (int x : v) cout << x << " ";\ncout << endl;',
        '%limits',
    ]),
    "go": ("Go", "compiled and run", [
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello, world")\n}',
        '// no package clause: `package main` is added\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\tos.WriteFile("greeting.txt", []byte("written by Go"), 0o644)\n\tdata, _ := os.ReadFile("greeting.txt")\n\tfmt.Println(string(data))\n}',
        '%limits',
    ]),
    "rust": ("Rust", "compiled and run", [
        'fn main() {\n    println!("hello, world");\n}',
        '// statements only: they become the body of fn main()\nlet squares: Vec<u32> = (1..=5).map(|i| i * i).collect();\nprintln!("{:?}", squares);',
        '%limits',
    ]),
    "java": ("Java", "compiled and run", [
        'public class Hello {\n    public static void main(String[] args) {\n        System.out.println("hello, world");\n    }\n}',
        '// statements only: they become the body of Main.main\nimport java.util.*;\nList<Integer> xs = new ArrayList<>(List.of(3, 1, 2));\nCollections.sort(xs);\nSystem.out.println(xs);',
        '%limits',
    ]),
}


def notebook(kernel_name: str, display_name: str, language: str, cells) -> nbformat.NotebookNode:
    """A notebook bound to one of our kernels."""
    nb = new_notebook(cells=cells)
    # the kernelspec's and language_info's language name ("c++" for cpp, as kernel_info says)
    info_name = LANGUAGES[language].info_name if language in LANGUAGES else language
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": display_name, "language": info_name}
    if language in LANGUAGES:
        nb.metadata["language_info"] = {"name": info_name, "file_extension": LANGUAGES[language].file_extension}
    return nb


def write(name: str, nb) -> None:
    """Write one notebook (validated) into examples/."""
    nbformat.validate(nb)
    path = ROOT / "examples" / name
    nbformat.write(nb, path)
    print("wrote", path)


def main() -> None:
    """Write every generated example."""
    for lang, (title, how, sources) in HELLO.items():
        language = LANGUAGES[lang]
        cells = [new_markdown_cell(INTRO.format(title=title, kernel=language.kernel_name, how=how))]
        cells += [new_code_cell(source) for source in sources]
        write(f"hello-{lang}.ipynb", notebook(language.kernel_name, language.display_name, lang, cells))

    write("polyglot.ipynb", notebook("docker-polyglot", "Polyglot (Docker)", "polyglot", [
        new_markdown_cell(
            "# One notebook, many languages\n\nOn the **`docker-polyglot`** kernel the first line `%%python`, `%%c`, "
            "`%%rust`, … picks the language of a cell (cells without one use `%lang`, default Python). Each cell runs "
            "in a fresh container of its language; all of them share `/workspace`, so a C program can compute data "
            "and a Python cell can plot it."),
        new_code_cell('%%c\n// C: simulate a damped oscillator and write it as CSV\nFILE *out = fopen("oscillator.csv", "w");\n'
                      'fprintf(out, "t,x\\n");\ndouble x = 1.0, v = 0.0, dt = 0.01;\nfor (int i = 0; i < 2000; i++) {\n'
                      '    double a = -4.0 * x - 0.3 * v;\n    v += a * dt;\n    x += v * dt;\n'
                      '    fprintf(out, "%.2f,%.5f\\n", i * dt, x);\n}\nfclose(out);\nputs("wrote oscillator.csv");'),
        new_code_cell('%%bash\nwc -l oscillator.csv && head -3 oscillator.csv'),
        new_code_cell('%%python\nimport csv\nimport matplotlib.pyplot as plt\n\nwith open("oscillator.csv") as fh:\n'
                      '    rows = list(csv.DictReader(fh))\nt = [float(r["t"]) for r in rows]\nx = [float(r["x"]) for r in rows]\n'
                      'plt.plot(t, x)\nplt.xlabel("t")\nplt.ylabel("x")\nplt.title("computed in C, plotted in Python")\nplt.show()'),
        new_code_cell('%%javascript\nconst fs = require("fs");\nconst lines = fs.readFileSync("oscillator.csv", "utf8").trim().split("\\n");\n'
                      'console.log(`JavaScript read ${lines.length - 1} samples`);'),
        new_code_cell('%%rust\nuse std::fs;\nlet text = fs::read_to_string("oscillator.csv").unwrap();\n'
                      'let max = text.lines().skip(1).map(|l| l.split(\',\').nth(1).unwrap().parse::<f64>().unwrap()).fold(f64::MIN, f64::max);\n'
                      'println!("Rust: max x = {:.3}", max);'),
    ]))

    write("plotting.ipynb", notebook("docker-python", "Python 3 (Docker)", "python", [
        new_markdown_cell("# Plots and live displays\n\nMatplotlib figures appear inline as PNG. A display with an id can be "
                          "updated while the cell runs, so a progress bar updates in place."),
        new_code_cell('import numpy as np\nimport matplotlib.pyplot as plt\n\nx = np.linspace(0, 4 * np.pi, 400)\n'
                      'plt.plot(x, np.sin(x), label="sin")\nplt.plot(x, np.cos(x), label="cos")\nplt.legend()\nplt.show()'),
        new_code_cell('import time\nfrom IPython.display import HTML, display, update_display\n\n'
                      'handle = display(HTML("starting…"), display_id=True)\nfor step in range(1, 11):\n'
                      '    time.sleep(0.3)\n    bar = "█" * step + "░" * (10 - step)\n'
                      '    handle.update(HTML(f"<code>{bar}</code> {step * 10}%"))\nprint("done")'),
        new_code_cell('import pandas as pd\n\ndf = pd.DataFrame({"x": x[:5], "sin": np.sin(x[:5])})\ndf'),
    ]))

    write("input.ipynb", notebook("docker-python", "Python 3 (Docker)", "python", [
        new_markdown_cell("# Interactive input\n\n**Interactive**: run this notebook in JupyterLab or `jupyter console`. "
                          "`input()` and `getpass.getpass()` become input prompts in the frontend and the answer goes "
                          "back into the container. Under nbconvert or papermill, which cannot answer, the program gets "
                          "`EOFError` at once instead of hanging."),
        # tagged: under nbconvert/nbclient these cells end with EOFError, by design
        new_code_cell('name = input("What is your name? ")\nprint(f"Hello, {name}!")', metadata={"tags": ["raises-exception"]}),
        new_code_cell('import getpass\nsecret = getpass.getpass("A secret (not echoed): ")\nprint("the secret has", len(secret), "characters")',
                      metadata={"tags": ["raises-exception"]}),
        new_code_cell('%%bash\n# in Bash (and any language) the `input` helper asks the same way\ncolour=$(input "Favourite colour? ")\necho "You like $colour"'),
    ]))

    write("interactive.ipynb", notebook("docker-polyglot", "Polyglot (Docker)", "polyglot", [
        new_markdown_cell("# Programs that read their input\n\nA program that reads stdin (`scanf`, `Scanner`, `gets`, "
                          "`read`, ...) asks the notebook: in JupyterLab or `jupyter console` an input box appears after "
                          "the program's prompt, and the answer is the program's next line. Under nbconvert or papermill "
                          "nobody can answer, so `%stdin FILE` feeds a workspace file instead (the way code runners take "
                          "stdin); without it a read gets end-of-file at once. Delete the `%stdin` lines to be asked."),
        new_code_cell("%%file numbers.txt\n3\n4 5 6\n"),
        new_code_cell('%%c\n%stdin numbers.txt\n// C: how many numbers, then the numbers\nint n, x, sum = 0;\n'
                      'printf("how many? ");\nscanf("%d", &n);\nfor (int i = 0; i < n; i++) {\n    printf("number %d? ", i + 1);\n'
                      '    scanf("%d", &x);\n    sum += x;\n}\nprintf("\\nsum = %d\\n", sum);'),
        new_code_cell('%%java\n%stdin numbers.txt\n// Java: the same with a Scanner\nvar in = new java.util.Scanner(System.in);\n'
                      'System.out.print("how many? ");\nint n = in.nextInt();\nlong product = 1;\n'
                      'for (int i = 0; i < n; i++) { System.out.print("number " + (i + 1) + "? "); product *= in.nextInt(); }\n'
                      'System.out.println("\\nproduct = " + product);'),
        new_code_cell('%%ruby\n%stdin numbers.txt\n# Ruby: read every line to the end\nlines = $stdin.readlines.map(&:split).flatten.map(&:to_i)\n'
                      'puts "read #{lines.size} numbers, largest #{lines.max}"'),
        new_markdown_cell("Without `%stdin` the program asks you (in JupyterLab or `jupyter console`); under nbconvert it "
                          "reads end-of-file at once and says so."),
        new_code_cell('%%c\nchar name[64];\nprintf("your name? ");\nif (scanf("%63s", name) == 1)\n    printf("hello, %s\\n", name);\n'
                      'else\n    puts("(nobody answered: run this cell in JupyterLab or jupyter console)");'),
    ]))
    write("display-any-language.ipynb", notebook("docker-polyglot", "Polyglot (Docker)", "polyglot", [
        new_markdown_cell("# Rich output from any language\n\nEvery image has a `display` command, Python has `display()`, "
                          "JavaScript a global `display` object. Compiled programs write a file and show it from a shell cell."),
        new_code_cell('%%bash\ncat > table.html <<\'EOF\'\n<table><tr><th>language</th><th>shown by</th></tr>'
                      '<tr><td>Bash</td><td><code>display --html</code></td></tr></table>\nEOF\ndisplay --html table.html'),
        new_code_cell('%%javascript\ndisplay.html("<b>HTML</b> from <i>JavaScript</i>");\n'
                      'display.svg(\'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><rect width="120" height="30" fill="#f0db4f"/>'
                      '<text x="10" y="20">node</text></svg>\');'),
        new_code_cell('%%c\n// C writes an SVG file; a Bash cell shows it\nFILE *f = fopen("gradient.svg", "w");\n'
                      'fprintf(f, "<svg xmlns=\'http://www.w3.org/2000/svg\' width=\'256\' height=\'20\'>");\n'
                      'for (int i = 0; i < 256; i += 8) fprintf(f, "<rect x=\'%d\' width=\'8\' height=\'20\' fill=\'rgb(%d,0,%d)\'/>", i, i, 255 - i);\n'
                      'fprintf(f, "</svg>");\nfclose(f);\nputs("wrote gradient.svg");'),
        new_code_cell('%%bash\ndisplay gradient.svg'),
        new_code_cell('%%python\nfrom IPython.display import Markdown\nMarkdown("**Markdown** from Python")'),
    ]))


if __name__ == "__main__":
    main()
