"""`scanner trackers update`: fetch the public tracker lists from their publishers and import them.

Each list is downloaded on the user's machine (behind the address guard, streamed to a file with
a size limit and a timeout), imported with `scanner.importers.import_list`, and its provenance
(source URL, sha256, fetch time) is written into the imported file's header; `record_tracker_lists`
copies those headers into `tracker_lists` for a scan. See docs/trackers.md.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from scanner import __version__
from scanner.download import DownloadError, file_sha256, stream_to_file
from scanner.importers import IMPORTED_DIR, ListImportError, import_list
from scanner.options import loopback_forced
from scanner.trackers import tracker_rule_files


@dataclass(frozen=True)
class PublicList:
    name: str          # the imported file is <name>.yaml
    fmt: str           # importer format
    url: str           # the publisher's own address for the current list
    license: str
    terms: str         # what the licence means for whoever imports it
    suffix: str        # file name suffix of the download


# The one table of official sources; `--source NAME=URL` overrides an address (a mirror, a test).
PUBLIC_LISTS = (
    PublicList("disconnect", "disconnect",
               "https://raw.githubusercontent.com/disconnectme/disconnect-tracking-protection/master/services.json",
               "CC-BY-NC-SA-4.0",
               "non-commercial use only; commercial use needs a licence from Disconnect", ".json"),
    PublicList("ddg", "ddg",
               "https://staticcdn.duckduckgo.com/trackerblocking/v6/current/extension-tds.json",
               "CC-BY-NC-SA-4.0", "non-commercial use only (DuckDuckGo Tracker Radar data)", ".json"),
    PublicList("easyprivacy", "abp", "https://easylist.to/easylist/easyprivacy.txt",
               "GPL-3.0-or-later OR CC-BY-SA-3.0",
               "copyleft: share changes to the list under the same licence", ".txt"),
    PublicList("exodus", "exodus", "https://reports.exodus-privacy.eu.org/api/trackers",
               "ODbL-1.0 (contents DbCL-1.0)",
               "open database: attribute Exodus Privacy, share a derived database alike", ".json"),
)
LISTS_BY_NAME = {entry.name: entry for entry in PUBLIC_LISTS}

DEFAULT_MAX_BYTES = 50 * 1024 * 1024   # the largest list (the DuckDuckGo TDS) is a few MB
DEFAULT_TIMEOUT = 60.0                 # seconds for one whole download
USER_AGENT = f"child-privacy-scanner/{__version__} (tracker list update)"
DOWNLOADS = "downloads"                # under the output directory: what ABP imports point at


class ListUpdateError(ValueError):
    """One list could not be updated; the message says which address and why."""


@dataclass
class UpdateResult:
    name: str
    url: str
    ok: bool
    message: str
    path: Path | None = None
    version: str | None = None
    sha256: str | None = None


def address_check(allow_private: bool):
    """The guard for list downloads: loopback only under SCANNER_LOOPBACK_ONLY, else safety's."""
    # Imported here: safety imports Scrapy, which the scan process (recording lists) never needs.
    from scanner.safety import loopback_problem, url_problem

    if loopback_forced():
        def check(url):
            problem = loopback_problem(url)
            host = (urlsplit(url).hostname or "").strip("[]")
            if problem and _is_ip(host):
                # A link-local or private literal keeps its own reason when it has one.
                problem = url_problem(url, allow_private, resolver=lambda h: [h]) or problem
            return problem
        return check
    return lambda url: url_problem(url, allow_private)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def download(url: str, destination: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
             timeout: float = DEFAULT_TIMEOUT, allow_private: bool = False) -> str:
    """Stream `url` into `destination` (written whole or not at all); return its sha256."""
    try:
        return stream_to_file(url, destination, check=address_check(allow_private),
                              max_bytes=max_bytes, timeout=timeout, user_agent=USER_AGENT)
    except DownloadError as exc:
        raise ListUpdateError(str(exc)) from None


def update_list(entry: PublicList, url: str, out_dir: Path = IMPORTED_DIR, **download_options) -> UpdateResult:
    """Download one list and import it; on any failure the previous import is left as it was."""
    out_dir = Path(out_dir)
    fetched_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    downloads = out_dir / DOWNLOADS
    try:
        # Staged outside out_dir: a scan loading the rules meanwhile never sees a half import.
        with tempfile.TemporaryDirectory() as staging:
            fetched = Path(staging) / f"{entry.name}{entry.suffix}"
            sha256 = download(url, fetched, **download_options)
            # Content-addressed name: a filter list the previous import still points at is
            # never overwritten by a download that then fails to import.
            kept = downloads / f"{entry.name}-{sha256[:12]}{entry.suffix}"
            downloads.mkdir(parents=True, exist_ok=True)
            replaced_download = not kept.exists()
            if replaced_download:
                shutil.move(str(fetched), kept)
            try:
                result = import_list(
                    entry.fmt, kept, Path(staging), name=entry.name, downloaded_from=url,
                    downloaded_at=fetched_at, license_notice=f"{entry.license}: {entry.terms}",
                    how=(f"Downloaded by `scanner trackers update` from {url} at {fetched_at}. "
                         "Generated: do not edit, run the update again."))
            except ListImportError:
                if replaced_download:
                    kept.unlink()
                raise
            if result.sdk_path:   # Exodus: the APK signatures beside it
                _move_into(result.sdk_path, out_dir / result.sdk_path.name)
            final = out_dir / f"{entry.name}.yaml"
            _move_into(result.path, final)
    except (ListUpdateError, ListImportError, OSError) as exc:
        previous = read_list_header(out_dir / f"{entry.name}.yaml")
        kept_note = (f"kept the previous copy (version {previous.get('version')})" if previous
                     else "no previous copy")
        return UpdateResult(entry.name, url, False, f"{_one_line(exc)}; {kept_note}")
    _remove_stale_downloads(downloads, entry, keep=kept)
    what = (f"{result.domains} filters" if entry.fmt == "abp"
            else f"{result.entities} entries, {result.domains} domains")
    return UpdateResult(entry.name, url, True, what, path=final, version=result.version, sha256=sha256)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _move_into(staged: Path, final: Path) -> None:
    """Copy next to `final` under a name no loader reads, then rename over it in one step."""
    incoming = final.with_name(f".{final.name}.new")
    shutil.copyfile(staged, incoming)
    os.replace(incoming, final)


def _remove_stale_downloads(downloads: Path, entry: PublicList, keep: Path) -> None:
    for old in downloads.glob(f"{entry.name}-*{entry.suffix}"):
        if old != keep:
            old.unlink()


HEADER_KEYS = ("source", "format", "version", "license", "license_notice", "sha256", "imported_at",
               "imported_from", "filter_list")
BODY_KEYS = ("entities:", "owners:", "examples:")


def read_list_header(path: Path) -> dict:
    """The header keys of a tracker rule file, read without parsing its (large) body."""
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return {}
    head = []
    with handle:
        for line in handle:
            if line.startswith(BODY_KEYS):
                break
            head.append(line)
    try:
        data = yaml.safe_load("".join(head)) or {}
    except yaml.YAMLError:
        return {}
    return {k: data.get(k) for k in HEADER_KEYS if isinstance(data, dict) and data.get(k) is not None}


def tracker_list_rows(tracker_list, files: list[Path] | None = None) -> list[dict]:
    """One row per list a TrackerList was loaded from: name, version, licence, provenance."""
    used = {info.source for info in tracker_list.entries.values()}
    used |= {abp.name for abp in tracker_list.abp_lists}
    used |= {entity.source for entity in tracker_list.entities.values()}
    rows, seen = [], set()
    for order, path in enumerate(files if files is not None else tracker_rule_files()):
        header = read_list_header(path)
        name = str(header.get("source") or path.stem)
        if name not in used or name in seen:
            continue
        seen.add(name)
        origin = str(header.get("imported_from") or "")
        downloaded = origin.startswith(("http://", "https://"))
        rows.append({
            "name": name, "load_order": order, "format": header.get("format") or "curated",
            "version": _text(header.get("version")), "license": header.get("license"),
            "source_url": origin if downloaded else None,
            "sha256": header.get("sha256") or file_sha256(path),
            "fetched_at": _text(header.get("imported_at")) if downloaded else None,
            "imported_at": _text(header.get("imported_at")), "path": str(path),
        })
    return rows


def _text(value):
    return None if value is None else str(value)


def record_tracker_lists(db, scan_id: int, tracker_list, files: list[Path] | None = None) -> list[dict]:
    """Write which tracker lists (and which versions) a scan classifies with; call at scan start."""
    rows = [{"scan_id": scan_id, **row} for row in tracker_list_rows(tracker_list, files)]
    db["tracker_lists"].delete_where("scan_id = ?", [scan_id])
    if rows:
        db["tracker_lists"].insert_all(rows, pk=("scan_id", "name"), replace=True)
    return rows


def parse_sources(pairs) -> dict[str, str]:
    """['ddg=https://mirror/tds.json'] -> {'ddg': ...}; a bad pair or unknown name is an error."""
    sources = {}
    for pair in pairs or ():
        name, sep, url = pair.partition("=")
        name = name.strip()
        if not sep or not url.strip():
            raise ListUpdateError(f"--source {pair!r}: expected NAME=URL")
        if name not in LISTS_BY_NAME:
            raise ListUpdateError(f"--source {pair!r}: unknown list {name!r}; one of {', '.join(LISTS_BY_NAME)}")
        sources[name] = url.strip()
    return sources


def licence_notice(entry: PublicList) -> str:
    return f"licence {entry.license}: {entry.terms}"

