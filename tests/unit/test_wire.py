"""One frame codec: the kernel's tests check the very bytes the containers write."""

from __future__ import annotations

import pytest

from dockerkernel import images as imagebuild
from dockerkernel import protocol, wire
from dockerkernel.protocol import Frame, FrameParser

INCONTAINER = imagebuild.INCONTAINER_DIR


@pytest.mark.parametrize("args,data", wire.FRAME_VECTORS)
def test_vectors_encode_and_parse(args, data):
    token, kind, payload = args
    assert wire.encode_frame(token, kind, payload) == data
    other = "b" * 32
    runner = kind == "end"
    parser = FrameParser(other if runner else token, token if runner else other, max_frame=1 << 20)
    assert list(parser.feed(data)) + list(parser.close()) == [Frame(kind, payload or {}, from_runner=kind == "end")]


def test_protocol_reexports_the_codec():
    assert protocol.encode_frame is wire.encode_frame and protocol.FRAME_MAGIC is wire.FRAME_MAGIC


@pytest.mark.parametrize("name", ["runner.py", "display", "input"])
def test_in_container_python_has_no_encoder_of_its_own(name):
    text = (INCONTAINER / name).read_text()
    assert "from dkwire import" in text
    assert "\\x1bDK" not in text and "memoryview" not in text


def test_the_build_context_carries_the_codec_as_dkwire():
    entries = {e.name: e for e in imagebuild._context_entries("bash", None)}
    assert entries[imagebuild.WIRE_IN_CONTEXT].data == (imagebuild.PACKAGE_DIR / "wire.py").read_bytes()


def test_relabel():
    text = "/tmp/dk/cell.c:3:1: error: x\ncell.c: In function"
    assert wire.relabel(text, "cell.c", 7) == "Cell In[7]:3:1: error: x\nCell In[7]: In function"
