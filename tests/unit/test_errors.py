"""One error tree: everything dockerkernel raises is a DockerKernelError; the CLI prints it without a traceback."""

from __future__ import annotations

import importlib
import pkgutil

import dockerkernel
from dockerkernel import cli, errors
from dockerkernel import images as imagebuild
from dockerkernel.sandbox import connection


def all_modules():
    for info in pkgutil.walk_packages(dockerkernel.__path__, "dockerkernel."):
        if ".incontainer" not in info.name and not info.name.endswith(("__main__", "papermill_engine")):
            yield importlib.import_module(info.name)


def test_every_exception_class_of_the_package_is_rooted():
    found = []
    for module in all_modules():
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    assert found, "no exception classes found"
    assert [cls for cls in found if not issubclass(cls, errors.DockerKernelError)] == []


def test_image_build_error_is_the_one_in_errors():
    assert imagebuild.ImageBuildError is errors.ImageBuildError
    assert issubclass(connection.ConnectionSetupError, errors.DaemonUnavailable)


def test_a_failed_image_build_is_a_message_not_a_traceback(monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise imagebuild.ImageBuildError("debootstrap failed: no mirror", "set DOCKERKERNEL_DEBIAN_MIRROR")

    monkeypatch.setattr("dockerkernel.sandbox.connect", lambda timeout=60: object())
    monkeypatch.setattr(imagebuild, "build_images", fail)
    assert cli.main(["images", "build", "bash"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dockerkernel: debootstrap failed: no mirror\nset DOCKERKERNEL_DEBIAN_MIRROR")
    assert "Traceback" not in err
