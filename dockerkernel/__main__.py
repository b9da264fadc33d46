"""``python -m dockerkernel``: with ``-f CONNECTION_FILE`` start the kernel, else the CLI."""

import sys


def main() -> None:
    """Dispatch: kernel launch (from a kernelspec) or command line."""
    if any(arg == "-f" or arg.startswith("--f=") or arg.startswith("-f=") for arg in sys.argv[1:]):
        from ipykernel.kernelapp import IPKernelApp

        from .kernel import DockerKernel

        IPKernelApp.launch_instance(kernel_class=DockerKernel)
    else:
        from .cli import main as cli_main

        sys.exit(cli_main())


if __name__ == "__main__":
    main()
