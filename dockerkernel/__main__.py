"""``python -m dockerkernel``: with ``-f CONNECTION_FILE`` start the kernel, else the CLI."""

import sys


def main() -> None:
    """Dispatch: kernel launch (from a kernelspec) or command line."""
    if any(arg == "-f" or arg.startswith("--f=") or arg.startswith("-f=") for arg in sys.argv[1:]):
        from ipykernel.kernelapp import IPKernelApp

        from .kernel import DockerKernel

        # outstream_class=None: this process's own stdout/stderr (a library's stray print, a
        # warning) go to the server's log, not into the notebook, and ipykernel's flush of them
        # around every cell (a round trip through its IOPub thread each) costs nothing
        IPKernelApp.launch_instance(kernel_class=DockerKernel, outstream_class=None)
    else:
        from .cli import main as cli_main

        sys.exit(cli_main())


if __name__ == "__main__":
    main()
