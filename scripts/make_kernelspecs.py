"""Write dockerkernel/kernelspecs/docker-<lang>/ (kernel.json + 32/64 px logos) from the language table.

Run after adding a language: python scripts/make_kernelspecs.py
The logos are drawn here (a container box in the language's colour) so no image tool is needed.
"""

import json
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from dockerkernel.languages import LANGUAGES  # noqa: E402

COLOURS = {"python": (55, 118, 171), "javascript": (240, 219, 79), "bash": (78, 170, 37), "ruby": (204, 52, 45),
           "c": (85, 85, 170), "cpp": (0, 89, 156), "go": (0, 173, 216), "rust": (183, 65, 14), "java": (176, 114, 25),
           "polyglot": (120, 80, 160)}


def png(width, height, pixel):
    """Encode an RGBA PNG from pixel(x, y) -> (r, g, b, a)."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def logo(size, colour):
    """A rounded container box with three slats, in the language's colour."""
    border = max(1, size // 16)

    def pixel(x, y):
        inside = border <= x < size - border and size // 6 <= y < size - size // 6
        if not inside:
            return (0, 0, 0, 0)
        slat = (x - border) * 4 // (size - 2 * border)
        edge = (x - border) % ((size - 2 * border) // 4 or 1) == 0 and x > border
        shade = 0.75 if edge else (1.0 if slat % 2 == 0 else 0.88)
        return tuple(int(c * shade) for c in colour) + (255,)

    return png(size, size, pixel)


def main():
    root = Path(__file__).resolve().parent.parent / "dockerkernel" / "kernelspecs"
    entries = [(name, lang.info_name, lang.kernel_name, lang.display_name, lang.image)
               for name, lang in LANGUAGES.items()]
    entries.append(("polyglot", "polyglot", "docker-polyglot", "Polyglot (Docker)", "dockerkernel/<language>:latest"))
    for name, info_name, kernel_name, display_name, image in entries:
        folder = root / kernel_name
        folder.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": ["python3", "-m", "dockerkernel", "-f", "{connection_file}", f"--DockerKernel.language={name}"],
            "display_name": display_name,
            "language": info_name,  # as language_info's name (c++ for cpp)
            # signal: jupyter_client (JupyterLab's server, nbclient, jupyter console) sends SIGINT,
            # which the kernel turns into killing the running cell's container
            "interrupt_mode": "signal",
            "metadata": {"dockerkernel": {"language": name, "image": image}},
        }
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        for size in (32, 64):
            (folder / f"logo-{size}x{size}.png").write_bytes(logo(size, COLOURS.get(name, (100, 100, 100))))
        print("wrote", folder)


if __name__ == "__main__":
    main()
