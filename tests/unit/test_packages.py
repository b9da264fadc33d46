"""The pure side of %pip/%npm/%gem: parsing, requirement lists, environment keys, index settings."""

from __future__ import annotations

import pytest

from dockerkernel import packages
from dockerkernel.cells import Limits
from dockerkernel.languages import get_language
from dockerkernel.packages import MANAGERS, PackageCommand
from dockerkernel.sandbox import engine

PIP = MANAGERS["python"]


def test_parse_install_with_ignored_flags():
    command = packages.parse_command("pip", "install -q -U tabulate 'ujson>=5'")
    assert (command.manager, command.verb, command.packages) == (PIP, "install", ("tabulate", "ujson>=5"))


def test_parse_verbs_and_managers():
    assert packages.parse_command("pip3", "uninstall tabulate").verb == "uninstall"
    assert packages.parse_command("pip", "list").verb == "list"
    npm = packages.parse_command("npm", "i left-pad")
    assert (npm.manager.name, npm.verb, npm.packages) == ("npm", "install", ("left-pad",))
    gem = packages.parse_command("gem", "install --local hello-0.1.0.gem")
    assert (gem.manager.language, gem.local, gem.packages) == ("ruby", True, ("hello-0.1.0.gem",))
    assert packages.parse_command("pip", "install -r requirements.txt").requirement_files == ("requirements.txt",)


@pytest.mark.parametrize("args", ["", "frobnicate x", "install", "install --index-url https://evil tabulate",
                                  "install --target /tmp x"])
def test_parse_refuses(args):
    with pytest.raises(ValueError):
        packages.parse_command("pip", args)


@pytest.mark.parametrize("spec, name", [
    ("Foo_Bar>=1.0", "foo-bar"), ("requests[socks]==2", "requests"), ("left-pad@1.3.0", "left-pad"),
    ("./dist/dkevil-0.1.tar.gz", "dkevil"), ("hello-0.1.0.gem", "hello"), ("tabulate", "tabulate"),
    ("zope.interface ; python_version>'3'", "zope-interface"),
])
def test_requirement_name(spec, name):
    assert packages.requirement_name(spec) == name


def test_install_appends_and_replaces_uninstall_removes():
    def install(*specs):
        return PackageCommand(PIP, "install", specs)

    current = packages.updated_requirements([], install("tabulate", "ujson"))
    assert current == ["tabulate", "ujson"]
    current = packages.updated_requirements(current, install("Tabulate==0.9", "regex"))
    assert current == ["Tabulate==0.9", "ujson", "regex"]
    assert packages.updated_requirements(current, PackageCommand(PIP, "uninstall", ("tabulate",))) == [
        "ujson", "regex"]


def test_environment_key_depends_on_everything_that_decides_the_install():
    base = packages.environment_key("python", "sha256:1", ["tabulate"])
    assert base == packages.environment_key("python", "sha256:1", ["tabulate"])
    others = {
        packages.environment_key("python", "sha256:2", ["tabulate"]),
        packages.environment_key("python", "sha256:1", ["tabulate", "ujson"]),
        packages.environment_key("python", "sha256:1", ["ujson", "tabulate"]),
        packages.environment_key("python", "sha256:1", ["tabulate"], flags={"source_builds": True}),
        packages.environment_key("python", "sha256:1", ["tabulate"], index={"PIP_INDEX_URL": "https://x/simple"}),
        packages.environment_key("python", "sha256:1", ["tabulate"], file_digests={"a.whl": "00"}),
        packages.environment_key("javascript", "sha256:1", ["tabulate"]),
    }
    assert base not in others and len(others) == 7
    assert packages.volume_name(base).startswith("dockerkernel-pkgs-") and base[:24] in packages.volume_name(base)


def test_pip_config_gives_the_index_without_host_paths():
    config = packages.parse_pip_config(
        "global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
        "global.index-url='https://mirror.example/simple'\n"
        "global.extra-index-url='file:///opt/pypi/simple https://more.example/simple'\n"
        "global.find-links='/opt/wheels'\n"
        "site.trusted-host='mirror.example'\n")
    assert config["cert"] == "/etc/ssl/certs/ca-certificates.crt"
    env, notes = packages.pip_index_env(config, {})
    assert env == {"PIP_INDEX_URL": "https://mirror.example/simple", "PIP_EXTRA_INDEX_URL": "https://more.example/simple",
                   "PIP_TRUSTED_HOST": "mirror.example"}
    assert any("file:///opt/pypi/simple" in note for note in notes) and any("/opt/wheels" in n for n in notes)
    env, _ = packages.pip_index_env(config, {"PIP_INDEX_URL": "https://env.example/simple"})
    assert env["PIP_INDEX_URL"] == "https://env.example/simple"
    assert packages.ca_bundle_candidates(config, {"PIP_CERT": "/x.pem"})[:2] == [
        "/x.pem", "/etc/ssl/certs/ca-certificates.crt"]


def test_installers_refuse_package_code_by_default():
    argv = PIP.install_argv(["tabulate"])
    assert argv[:4] == ["python3", "-m", "pip", "install"] and "--only-binary" in argv and argv[-1] == "tabulate"
    assert "--only-binary" not in PIP.install_argv(["tabulate"], source_builds=True)
    assert "--no-index" in PIP.install_argv(["a.whl"], local_only=True)
    assert "--ignore-scripts" in MANAGERS["javascript"].install_argv(["left-pad"])
    assert "--local" in MANAGERS["ruby"].install_argv(["x.gem"], local_only=True)


@pytest.mark.parametrize("spec, built", [
    ("tabulate", False), ("./dkevil-0.1.tar.gz", True), ("/workspace/x-1.zip", True), ("./x-1-py3-none-any.whl", False),
    ("git+https://example.org/x.git", True), ("x @ https://example.org/x-1.tar.gz", True),
    ("x @ https://example.org/x-1-py3-none-any.whl", False),
])
def test_needs_source_build(spec, built):
    assert packages.needs_source_build(spec, PIP) is built
    assert packages.needs_source_build(spec, MANAGERS["javascript"]) is False


def test_shell_install_lines_at_the_top_become_magics():
    code = "# setup\n!pip install tabulate\n!python -m pip install -q ujson\n%timeout 5\nx = 1\n!pip install later"
    assert packages.shell_installs_as_magics(code) == (
        "# setup\n%pip install tabulate\n%pip install -q ujson\n%timeout 5\nx = 1\n!pip install later")
    assert packages.shell_installs_as_magics("!ls\n!pip install x") == "!ls\n!pip install x"


def test_last_error_line():
    assert packages.last_error_line("Collecting x\nERROR: first\nERROR: No matching distribution found for x\n") == (
        "ERROR: No matching distribution found for x")
    assert packages.last_error_line("npm ERR! 404 Not Found\nnpm ERR! A complete log of this run\n") == (
        "npm ERR! 404 Not Found")
    assert packages.last_error_line("") == "the installer failed without a message"


def test_cells_mount_the_environment_read_only_and_find_it():
    limits = Limits(packages="dockerkernel-pkgs-abc")
    (mount,) = engine.package_mounts(limits)
    assert (mount["Target"], mount["Source"], mount["ReadOnly"]) == (packages.PACKAGES_MOUNT, "dockerkernel-pkgs-abc",
                                                                     True)
    assert engine.environment(get_language("python"), limits)["PYTHONPATH"] == "/opt/dkpackages/python"
    assert engine.environment(get_language("ruby"), limits)["GEM_PATH"].endswith(":")
    assert "PYTHONPATH" not in engine.environment(get_language("python"), Limits())
    assert engine.package_mounts(Limits()) == []
    assert Limits().container_key() != limits.container_key()  # a new environment: a new pool


def test_derived_dockerfile_installs_wheels_only_and_drops_the_ca():
    from dockerkernel.images.derived import CA_PATH, derived_dockerfile

    text = derived_dockerfile("sha256:abc", {"PIP_INDEX_URL": "https://pypi.example/simple"}, with_ca=True)
    assert text.startswith("FROM sha256:abc\n")
    assert "--only-binary :all:" in text and 'PIP_INDEX_URL="https://pypi.example/simple"' in text
    assert f"PIP_CERT={CA_PATH}" in text and f"&& rm -f {CA_PATH}" in text  # not left in the image
    assert "--only-binary" not in derived_dockerfile("x", {}, with_ca=False, source_builds=True)
