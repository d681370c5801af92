"""Builds the egg Scrapyd runs (`scrapyd-deploy`, `scanner dispatch`); everything else is in pyproject.toml.

An egg carries only packages, so the data the spiders need at run time — policy rules, tracker
lists, SDK signatures (rules/) — goes in as data files at the egg's root, where scanner/paths.py
finds it (unpacked once, since Python cannot open files inside a zip). Wheels and editable
installs read rules/ from the checkout and do not get them.
"""

import sys
from pathlib import Path

from setuptools import setup

EGG_COMMANDS = {"bdist_egg", "bdist_uberegg"}


def data_files(root: str) -> list[tuple[str, list[str]]]:
    """(folder, [files]) for every file under root, hidden files and caches left out."""
    grouped: dict[str, list[str]] = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file() and not any(part.startswith((".", "__pycache__")) for part in path.parts):
            grouped.setdefault(path.parent.as_posix(), []).append(path.as_posix())
    return sorted(grouped.items())


setup(data_files=data_files("rules") if EGG_COMMANDS & set(sys.argv) else [])
