"""Opens a Teams app zip written by `joinchat package` and checks what the
JSON schema cannot: the three files, the icons' sizes (from each PNG's IHDR),
an outline that is white on transparent, and a manifest that declares the
newest numbered schema the pinned schema package carries.

Usage: check_package.py ZIP SCHEMA_DIR OUT_MANIFEST
Prints the path of the schema file to validate OUT_MANIFEST against.
"""

import json
import re
import struct
import sys
import zlib
import zipfile
from pathlib import Path


def fail(message):
    sys.exit(f"check_package: {message}")


def png_chunks(data):
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        fail("not a PNG")
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        yield kind, data[at + 8 : at + 8 + length]
        at += 12 + length


def ihdr(data):
    kind, body = next(png_chunks(data))
    if kind != b"IHDR":
        fail("the first PNG chunk is not IHDR")
    width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    return width, height, depth, colour


def rgba_pixels(data):
    """Decodes an 8-bit RGBA, non-interlaced PNG (what joinchat writes)."""
    width, height, depth, colour = ihdr(data)
    if (depth, colour) != (8, 6):
        fail(f"outline.png must be 8-bit RGBA, is depth {depth} colour type {colour}")
    raw = zlib.decompress(b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT"))
    stride, bpp = width * 4, 4
    rows, previous, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            corner = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        previous = line
    return [tuple(row[i : i + 4]) for row in rows for i in range(0, stride, 4)]


def main():
    zip_path, schema_dir, out_manifest = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    with zipfile.ZipFile(zip_path) as package:
        names = sorted(package.namelist())
        if names != ["color.png", "manifest.json", "outline.png"]:
            fail(f"the zip holds {names}")
        manifest = json.loads(package.read("manifest.json"))
        color, outline = package.read("color.png"), package.read("outline.png")

    for name, data, size in [("color.png", color, 192), ("outline.png", outline, 32)]:
        width, height, _, colour = ihdr(data)
        if (width, height) != (size, size):
            fail(f"{name} is {width}x{height}, Teams wants {size}x{size}")
        if colour not in (2, 6):
            fail(f"{name} is not a truecolour PNG (colour type {colour})")
    pixels = rgba_pixels(outline)
    if not any(a == 0 for *_, a in pixels):
        fail("outline.png has no transparent background")
    if any(a and (r, g, b) != (255, 255, 255) for r, g, b, a in pixels):
        fail("outline.png has visible pixels that are not white")
    if manifest["icons"] != {"color": "color.png", "outline": "outline.png"}:
        fail(f"icons point elsewhere: {manifest['icons']}")

    numbered = [
        tuple(int(part) for part in m.groups())
        for d in schema_dir.iterdir()
        if (m := re.fullmatch(r"v(\d+)\.(\d+)", d.name))
    ]
    newest = "%d.%d" % max(numbered)
    version = manifest["manifestVersion"]
    if version != newest:
        fail(f"the manifest declares {version}; the newest schema is {newest}")
    expected = f"https://developer.microsoft.com/json-schemas/teams/v{version}/MicrosoftTeams.schema.json"
    if manifest.get("$schema") != expected:
        fail(f"$schema is {manifest.get('$schema')}, expected {expected}")

    out_manifest.write_text(json.dumps(manifest, indent=2))
    print(schema_dir / f"v{version}" / "MicrosoftTeams.schema.json")


if __name__ == "__main__":
    main()
