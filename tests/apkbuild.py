"""Test APKs: the builder (scanner/demo/apkbuild.py, shared with the demo and the benchmark) and
archives that are not what they claim (zip bombs)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from scanner.demo.apkbuild import ApkBuilder, ApkSpec, missing_tools  # noqa: F401 (re-exported)


def zip_bomb(path: Path, uncompressed_bytes: int = 64 * 1024**2, entry: str = "classes.dex") -> Path:
    """A small zip whose entry inflates to `uncompressed_bytes` of zeros (written in streamed chunks)."""
    chunk = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open(entry, "w", force_zip64=True) as handle:
            for _ in range(uncompressed_bytes // len(chunk)):
                handle.write(chunk)
    return path



def lying_zip_bomb(path: Path, manifest: bytes, real_bytes: int = 8 * 1024 * 1024,
                   declared_bytes: int = 1000) -> Path:
    """A zip whose classes.dex declares `declared_bytes` in both headers but inflates to `real_bytes`."""
    import struct

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("AndroidManifest.xml", manifest)
        archive.writestr("classes.dex", b"\0" * real_bytes)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo("classes.dex").header_offset
    struct.pack_into("<I", data, local + 22, declared_bytes)   # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46:central + 46 + name_length]) == b"classes.dex":
            struct.pack_into("<I", data, central + 24, declared_bytes)  # central directory: same
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))
    return path
