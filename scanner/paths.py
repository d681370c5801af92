"""Where the project's data lives: a checkout's rules/ and targets/, or a Scrapyd egg's rules/.

Scrapyd runs the scanner from a zipped egg (setup.py puts rules/ at its root, next to the
packages). Python cannot open files inside a zip, so that data is unpacked once per egg content
into a folder of the temporary directory, and RULES_DIR points there.
"""

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
# Unpacked from an egg: the top-level folders the scanner reads at run time.
EGG_DATA_FOLDERS = ("rules/",)


def unpack_egg_data(egg: Path, into: Path | None = None) -> Path:
    """A folder holding the egg's data folders, unpacked once per content of those folders
    (eggs rebuilt from the same rules share it)."""
    with zipfile.ZipFile(egg) as archive:
        members = sorted(m for m in archive.namelist() if m.startswith(EGG_DATA_FOLDERS))
        digest = hashlib.sha256()
        for member in members:
            digest.update(member.encode("utf-8") + b"\0" + archive.read(member) + b"\0")
        target = (into or Path(tempfile.gettempdir())) / f"child-privacy-scanner-egg-{digest.hexdigest()[:16]}"
        if target.is_dir():
            return target
        partial = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=target.parent))
        archive.extractall(partial, members)
    try:
        os.rename(partial, target)  # atomic: a concurrent worker unpacking the same egg may win
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def data_root(root: Path = ROOT) -> Path:
    """The checkout, or the unpacked data of the zipped egg the package is imported from."""
    if root.is_dir() or not zipfile.is_zipfile(root):
        return root
    return unpack_egg_data(root)


DATA_ROOT = data_root()
RULES_DIR = DATA_ROOT / "rules"
POLICY_RULES_DIR = RULES_DIR / "policy"
TRACKER_RULES_DIR = RULES_DIR / "trackers"
TARGETS_DIR = ROOT / "targets"
DEMO_SITES_DIR = PACKAGE_DIR / "demo" / "sites"
