"""Image building against the real Docker daemon (plus the pure helpers it relies on)."""

from __future__ import annotations

import io
import tarfile
import time

import docker
import pytest

from dockerkernel import images as imagebuild
from dockerkernel.errors import ImageBuildError

pytestmark = pytest.mark.docker

FAKE_PEM = (
    b"-----BEGIN CERTIFICATE-----\n"
    b"MIIBszCCAVmgAwIBAgIUdGVzdC1vbmx5LW5vdC1hLXJlYWwtY2VydDAKBggqhkjO\n"
    b"-----END CERTIFICATE-----\n"
)


@pytest.fixture(scope="module")
def client():
    c = docker.from_env()
    c.ping()  # a missing daemon must fail loudly, not skip
    yield c
    c.close()


# ---- mirror parser (pure) -------------------------------------------------------------

DEB822 = """\
Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main

Types: deb
URIs: http://disabled.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.net/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

ONE_LINE = """\
# deb http://commented.example.org/debian bookworm main
deb-src http://src.example.org/debian bookworm main
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://ftp.example.de/debian bookworm main non-free-firmware
deb http://later.example.org/debian bookworm main
"""  # noqa: E501  (a real sources.list line)


def test_mirror_from_deb822():
    assert imagebuild.debian_mirror_from_sources(DEB822) == "http://mirror.example.net/debian"


def test_mirror_from_one_line_sources():
    assert imagebuild.debian_mirror_from_sources(ONE_LINE) == "http://ftp.example.de/debian"


def test_mirror_absent():
    text = "deb http://archive.ubuntu.com/ubuntu jammy main\n"
    assert imagebuild.debian_mirror_from_sources(text) is None


def test_find_debian_mirror_reads_sources_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(imagebuild.MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.sources.disabled").write_text(
        "Types: deb\nURIs: http://wrong.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert imagebuild.find_debian_mirror(tmp_path) == "http://mirror.example.net/debian"
    monkeypatch.setenv(imagebuild.MIRROR_ENV, "http://override.example/debian/")
    assert imagebuild.find_debian_mirror(tmp_path) == "http://override.example/debian"


# ---- build contexts -------------------------------------------------------------------


def _members(fileobj: io.BytesIO) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=fileobj) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_context_with_ca_bundle_contains_extra_crt(tmp_path):
    bundle = tmp_path / "corp-proxy.pem"
    bundle.write_bytes(FAKE_PEM)
    ctx, names = imagebuild.make_build_context("base", ca_bundle=bundle)
    members = _members(ctx)
    assert "extra-ca/extra.crt" in names
    assert members["extra-ca/extra.crt"].isfile()
    ctx.seek(0)
    with tarfile.open(fileobj=ctx) as tar:
        assert tar.extractfile("extra-ca/extra.crt").read() == FAKE_PEM
    assert "Dockerfile" in members


def test_context_without_ca_bundle_has_empty_extra_ca():
    ctx, names = imagebuild.make_build_context("base")
    members = _members(ctx)
    assert members["extra-ca"].isdir()
    assert not [n for n in names if n.startswith("extra-ca/")]
    # the runner belongs to the language images, so editing it leaves the base up to date
    assert not [n for n in names if n.startswith("incontainer")]
    _, lang_names = imagebuild.make_build_context("python")
    assert "incontainer/runner.py" in lang_names and "extra-ca" not in lang_names


def test_non_pem_ca_bundle_is_rejected(tmp_path):
    bundle = tmp_path / "garbage.crt"
    bundle.write_bytes(b"\x30\x82 not pem")
    with pytest.raises(ImageBuildError, match="no PEM certificate"):
        imagebuild.make_build_context("base", ca_bundle=bundle)


def test_unknown_language_is_a_clear_error(client):
    with pytest.raises(ImageBuildError, match="unknown language"):
        imagebuild.build_images(client, ["cobol"], progress=lambda line: None)


# ---- real builds ----------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_build_twice_second_run_is_up_to_date(client):
    first = imagebuild.build_images(client, ["bash"], progress=lambda line: None)
    assert [r.language for r in first] == ["base", "bash"]
    ids = {r.language: r.image_id for r in first}

    lines: list[str] = []
    started = time.monotonic()
    second = imagebuild.build_images(client, ["bash"], progress=lines.append)
    elapsed = time.monotonic() - started

    assert [r.status for r in second] == ["up to date", "up to date"]
    assert {r.language: r.image_id for r in second} == ids
    assert "bash: up to date" in lines and "base: up to date" in lines
    assert not any("Step " in line for line in lines), lines
    assert elapsed < 10

    for lang in ("base", "bash"):
        img = client.images.get(imagebuild.image_name(lang))
        assert img.id == ids[lang]
        assert img.labels[imagebuild.LABEL_IMAGE] == "1"
        assert img.labels[imagebuild.LABEL_HASH] == second[0 if lang == "base" else 1].context_hash

    rows = {row["language"]: row for row in imagebuild.list_images(client)}
    assert rows["base"]["status"] == "up to date"
    assert rows["bash"]["status"] == "up to date"
    assert rows["bash"]["present"] and rows["bash"]["size_mb"] > 0


@pytest.mark.timeout(300)
def test_failing_step_raises_image_build_error(client):
    imagebuild.ensure_base_os(client, progress=lambda line: None)
    ctx = imagebuild._context_tar([
        imagebuild._Entry(
            "Dockerfile",
            b"FROM debian:bookworm-slim\nRUN echo 'something broke' >&2; exit 3\n",
            0o644,
        )
    ])
    with pytest.raises(ImageBuildError) as info:
        imagebuild._run_build(
            client, "failtest", ctx, {imagebuild.LABEL_IMAGE: "1"}, {}, False,
            progress=lambda line: None,
        )
    message = str(info.value)
    assert "Step 2/" in message
    assert "something broke" in message
    assert "returned a non-zero code: 3" in message


def test_security_mirror_from_sources():
    assert (
        imagebuild.debian_mirror_from_sources(DEB822, security=True)
        == "http://deb.debian.org/debian-security"
    )
    assert (
        imagebuild.debian_mirror_from_sources(ONE_LINE, security=True)
        == "http://security.debian.org/debian-security"
    )


def test_context_modes_are_normalised():
    ctx, _ = imagebuild.make_build_context("bash")
    members = _members(ctx)
    scripts = [m for m in members.values() if m.isfile() and m.name.startswith("incontainer/")]
    assert scripts, "dockerkernel/incontainer/ is empty"
    for m in scripts:
        assert m.mode in (0o644, 0o755), (m.name, oct(m.mode))
        assert m.uid == 0 and m.mtime == members["Dockerfile"].mtime
