"""The ``dockerkernel`` command: install | images build/list | doctor | gc | run."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from .cells import Limits, Notice, Output, build_request
from .errors import DockerKernelError
from .languages import LANGUAGES, Language, get_language
from .magics import SessionSettings, parse_size
from .node import add_image_transfer_commands, add_node_commands
from .protocol import Frame
from .wire import cell_label

SPEC_DIR = Path(__file__).parent / "kernelspecs"


def kernelspec_json(lang_name: str, python: str | None = None) -> dict:
    """The kernel.json of ``docker-<lang>`` (argv[0] = the Python that has dockerkernel)."""
    spec = json.loads((SPEC_DIR / f"docker-{lang_name}" / "kernel.json").read_text())
    if python:
        spec["argv"][0] = python
    return spec


def cmd_install(args) -> int:
    """Install the kernelspecs so Jupyter lists the Docker kernels."""
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    available = sorted(
        path.name.removeprefix("docker-") for path in SPEC_DIR.iterdir() if (path / "kernel.json").is_file()
    )
    names = [n if n == "polyglot" else get_language(n).name for n in args.languages] if args.languages else available
    prefix = args.prefix or (sys.prefix if args.sys_prefix else None)
    if args.image or args.name:
        return _install_image_spec(manager, args, names, prefix)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            source = SPEC_DIR / f"docker-{name}"
            target = Path(tmp) / f"docker-{name}"
            shutil.copytree(source, target)
            (target / "kernel.json").write_text(json.dumps(kernelspec_json(name, sys.executable), indent=1))
            where = manager.install_kernel_spec(str(target), f"docker-{name}", user=args.user, prefix=prefix)
            print(f"installed docker-{name} in {where}")
    return 0


def _install_image_spec(manager, args, names: list[str], prefix: str | None) -> int:
    """``install LANG --image NAME [--name KERNEL]``: a kernelspec whose cells run in NAME."""
    if not args.image or len(names) != 1 or names[0] == "polyglot":
        print("dockerkernel: install LANGUAGE --image NAME [--name KERNEL]: one language and an image", file=sys.stderr)
        return 2
    lang = names[0]
    kernel = args.name or "docker-{}-{}".format(lang, re.sub(r"[^a-z0-9]+", "-", args.image.lower()).strip("-"))
    spec = kernelspec_json(lang, sys.executable)
    spec["argv"].append(f"--DockerKernel.image={args.image}")
    spec["display_name"] = f"{spec['display_name'][:-1]}, {args.image})" if spec["display_name"].endswith(")") else (
        f"{spec['display_name']} ({args.image})")
    spec.setdefault("metadata", {}).setdefault("dockerkernel", {})["image"] = args.image
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / kernel
        shutil.copytree(SPEC_DIR / f"docker-{lang}", target)
        (target / "kernel.json").write_text(json.dumps(spec, indent=1))
        where = manager.install_kernel_spec(str(target), kernel, user=args.user, prefix=prefix)
    print(f"installed {kernel} in {where}")
    return 0


def cmd_images(args) -> int:
    """Build, list or copy (export, load, sync) the language images."""
    if args.images_command in ("export", "load", "sync"):
        from .node import cmd_images_transfer

        return cmd_images_transfer(args)
    from . import images as imagebuild
    from .sandbox import connect

    client = connect(timeout=600)
    if args.images_command == "build":
        # default: the languages that have a kernel (the table), base layer first
        languages = [get_language(n).name if n != "base" else n for n in args.languages] or list(LANGUAGES)
        if args.requirements or args.tag:
            if not (args.requirements and args.tag) or len(languages) != 1:
                print("dockerkernel: --requirements FILE --tag NAME build one language's image", file=sys.stderr)
                return 2
            from .images.derived import build_derived

            print(build_derived(client, languages[0], args.requirements, args.tag, ca_bundle=args.ca_bundle,
                                progress=print))
            return 0
        imagebuild.build_images(client, languages, force=args.force, ca_bundle=args.ca_bundle, progress=print)
        return 0
    rows = imagebuild.list_images(client)
    print(f"{'image':<32} {'present':<8} {'size':>9}  state")
    for row in rows:
        size = f"{row.get('size_mb', 0):.0f} MB" if row.get("present") else "-"
        state = row.get("status", row.get("state", ""))
        print(f"{row['name']:<32} {str(bool(row.get('present'))):<8} {size:>9}  {state}")
    return 0


def cmd_gc(args) -> int:
    """Remove containers and volumes left by kernels that are gone."""
    from .sandbox import connect, sweep, sweep_node

    client = connect()
    if args.node:
        removed = sweep_node(client, grace=args.grace)
    else:
        removed = sweep(client, everything=args.all)
    print(f"removed {removed['containers']} container(s) and {removed['volumes']} volume(s)")
    if args.packages_older_than is not None:
        from .images import image_name
        from .sandbox.packages import prune_environments

        pruned = prune_environments(client, args.packages_older_than, image_name("base"))
        print(f"removed {len(pruned)} package environment(s) unused for {args.packages_older_than:g} days")
    return 0


# every language's usual file extensions (``dockerkernel run FILE``)
EXTENSIONS = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".sh": "bash", ".bash": "bash", ".rb": "ruby",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".go": "go", ".rs": "rust", ".java": "java",
}


def language_of(path: str, name: str | None = None) -> Language:
    """The language of a file: ``name`` when given, else from the extension. Raises ``KeyError``."""
    if name:
        return get_language(name)
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        known = " ".join(sorted(EXTENSIONS))
        raise KeyError(f"cannot tell the language of {path} (known extensions: {known}); use --lang")
    return get_language(EXTENSIONS[suffix])


def _print_event(event) -> None:
    """``dockerkernel run``: program output to our stdout/stderr, rich output as its text."""
    if isinstance(event, Output):
        stream = sys.stdout if event.stream == "stdout" else sys.stderr
        stream.buffer.write(event.data)
        stream.flush()
    elif isinstance(event, Notice):
        print(event.text, file=sys.stderr)
    elif isinstance(event, Frame) and event.kind in ("display", "update", "result"):
        data = event.payload.get("data") or {}
        print(data.get("text/plain") or f"[{event.kind}: {', '.join(data)}]")


def cmd_run(args) -> int:
    """Run one file exactly the way a cell runs; the exit status is the program's (124: timeout)."""
    from .kernel import replies
    from .sandbox import Sandbox

    language = language_of(args.file, args.lang)
    text = Path(args.file).read_bytes().decode("utf-8", "surrogateescape")
    settings = SessionSettings(language, base_limits=Limits(timeout=args.timeout, memory=parse_size(args.memory)))
    request = build_request(language, text, settings, count=1)

    async def main():
        sandbox = Sandbox(uuid.uuid4().hex, pool_size=0)
        try:
            return await sandbox.run(request, _print_event)
        finally:
            await sandbox.close()

    outcome = asyncio.run(main())
    found = replies.verdict(outcome, request)
    if found is not None:
        name = Path(args.file).name
        traceback = "\n".join(found.traceback or [f"{found.ename}: {found.evalue}"])
        sys.stderr.write(found.stderr)
        print(traceback.replace(cell_label(request.execution_count), name), file=sys.stderr)
    return replies.exit_status(outcome)


def cmd_execute(args) -> int:
    """Run a notebook unattended, recording in each cell how it ran (image, limits, status)."""
    from .provenance import execute_notebook

    return execute_notebook(args.notebook, args.output, args.timeout)


def cmd_doctor(args) -> int:
    """Check the daemon, runtime, images, kernelspecs and the limits that really apply."""
    from .doctor import run_doctor

    return run_doctor(language=args.lang, runtime=args.runtime)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dockerkernel`` command."""
    parser = argparse.ArgumentParser(
        prog="dockerkernel", description="Jupyter kernels that run every cell in a fresh container."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    install = sub.add_parser("install", help="install the kernelspecs")
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python environment")
    where.add_argument("--prefix", help="under this prefix")
    install.add_argument("languages", nargs="*", help="only these (default: all)")
    install.add_argument("--image", help="a kernelspec whose cells run in this image (one language; see --name)")
    install.add_argument("--name", help="with --image: the kernelspec's name (default docker-<language>-<image>)")
    install.set_defaults(func=cmd_install)

    images = sub.add_parser("images", help="build or list the language images")
    images_sub = images.add_subparsers(dest="images_command", required=True)
    build = images_sub.add_parser("build", help="build what is missing or changed")
    build.add_argument("languages", nargs="*", help="languages (default: every kernel's language)")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.add_argument("--ca-bundle", help="extra CA certificates for builds behind a TLS-inspecting proxy")
    build.add_argument("--requirements", metavar="FILE",
                       help="python only: also build --tag, the language image with these packages installed")
    build.add_argument("--tag", help="with --requirements: the derived image's name (e.g. course/python:2026)")
    images_sub.add_parser("list", help="show the images and whether they are up to date")
    add_image_transfer_commands(images_sub)
    images.set_defaults(func=cmd_images)

    doctor = sub.add_parser("doctor", help="check the set-up and print the fix for each problem")
    doctor.add_argument("--lang", default="python", help="language whose image is tried (default python)")
    doctor.add_argument("--runtime", default="", help="OCI runtime to try (e.g. runsc)")
    doctor.set_defaults(func=cmd_doctor)

    add_node_commands(sub)

    gc = sub.add_parser("gc", help="remove containers and volumes of kernels that are gone")
    gc.add_argument(
        "--all", action="store_true", help="remove all of this host's dockerkernel objects, even of live kernels"
    )
    gc.add_argument(
        "--packages-older-than", type=float, metavar="DAYS", default=None,
        help="also remove %%pip/%%npm/%%gem package environments (the shared cache) not used for DAYS days "
        "(0: all that no container uses)",
    )
    gc.add_argument(
        "--node", action="store_true",
        help="a shared daemon (cluster node): remove objects of dead kernels of any host, never running ones",
    )
    gc.add_argument("--grace", type=float, default=60.0, help="--node: seconds an object must be unused (default 60)")
    gc.set_defaults(func=cmd_gc)

    execute = sub.add_parser("execute", help="run a notebook, recording how each cell ran in its metadata")
    execute.add_argument("notebook")
    execute.add_argument("-o", "--output", help="write the executed notebook here (default: in place)")
    execute.add_argument("--timeout", type=int, default=None, help="per-cell client timeout in seconds")
    execute.set_defaults(func=cmd_execute)

    run = sub.add_parser("run", help="run one file the way a cell runs (exit status: the program's; 124 timeout)")
    run.add_argument("file")
    run.add_argument("--lang", help="language (default: from the file extension)")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    run.add_argument("--memory", default="512m", help="memory limit (default 512m)")
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dockerkernel`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DockerKernelError as exc:
        print(f"dockerkernel: {exc}", file=sys.stderr)
        return 1
    except KeyError as exc:
        print(f"dockerkernel: {exc.args[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
