"""Load and validate a targets file (YAML or CSV); every error names the file and line."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

AUDIENCES = ("child-directed", "mixed", "general")
KNOWN_KEYS = {"id", "name", "audience", "homepage", "policy_urls", "country", "platforms", "tags",
              "android"}
LIST_KEYS = ("policy_urls", "platforms", "tags")
ANDROID_KEYS = ("package", "apk", "store_url")
# CSV has no nesting: the android mapping's keys are columns of their own.
CSV_ANDROID_COLUMNS = {f"android_{key}": key for key in ANDROID_KEYS}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# An Android application id: two or more dot-separated Java identifiers (com.example.kids).
PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+$")
PLAY_STORE_URL = "https://play.google.com/store/apps/details?id={package}&hl=en&gl=US"


class TargetsError(ValueError):
    """A targets file that cannot be used; str() is the one-line message for the user."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class AndroidApp:
    """A target's Android app: its package, where to get its APK, and its store page."""

    package: str
    apk: str | None = None          # an http(s) URL, an .apk file or a folder of APKs
    store_url: str | None = None    # None: the Google Play listing of the package

    @property
    def listing_url(self) -> str:
        return self.store_url or PLAY_STORE_URL.format(package=self.package)


@dataclass(frozen=True)
class Target:
    id: str
    name: str
    audience: str
    homepage: str
    policy_urls: list = field(default_factory=list)
    country: str | None = None
    platforms: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    line: int | None = None
    android: AndroidApp | None = None

    def __post_init__(self):
        # A target that went through JSON (a worker's job file) comes back with a plain dict.
        if isinstance(self.android, dict):
            object.__setattr__(self, "android", AndroidApp(**self.android))

    @property
    def child_directed(self) -> bool:
        return self.audience == "child-directed"


def check_url(value) -> str | None:
    """Return why this is not an absolute http(s) URL, or None when it is one."""
    if not isinstance(value, str) or not value.strip():
        return "must be a URL"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        return f"{value!r} is not an http(s) URL"
    if not parts.hostname:
        return f"{value!r} has no host"
    try:
        _ = parts.port  # urllib checks the port only when it is read
    except ValueError:
        return f"{value!r} has a bad port"
    return None


def load_targets(path: str | Path) -> list[Target]:
    path = Path(path)
    if not path.exists():
        raise TargetsError(path, None, "no such file")
    if path.suffix.lower() == ".csv":
        records = _read_csv(path)
    else:
        records = _read_yaml(path)
    return _validate(path, records)


def _read_yaml(path: Path) -> list[tuple[int, dict, dict]]:
    """Return (line, record, key lines) for each target entry."""
    try:
        text = path.read_text(encoding="utf-8")
        try:  # libyaml when it is there: a tenth of the time; its marks give the same lines
            root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:  # the message as the Python parser words it
            root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TargetsError(path, mark.line + 1 if mark else None,
                           f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise TargetsError(path, None, "not UTF-8 text") from None
    if root is None:
        raise TargetsError(path, None, "empty file: expected a 'targets:' list")
    if not isinstance(root, yaml.MappingNode):
        raise TargetsError(path, root.start_mark.line + 1, "expected a mapping with 'targets:'")
    targets_node = None
    for key, value in root.value:
        if key.value == "targets":
            targets_node = value
        else:
            raise TargetsError(path, key.start_mark.line + 1,
                               f"unknown top-level key {key.value!r} (expected 'targets')")
    if not isinstance(targets_node, yaml.SequenceNode):
        line = targets_node.start_mark.line + 1 if targets_node else 1
        raise TargetsError(path, line, "'targets' must be a list")
    loader_records = []
    constructor = yaml.constructor.SafeConstructor()  # each value as yaml.safe_load reads it
    for item in targets_node.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise TargetsError(path, line, "each target must be a mapping of keys")
        record, key_lines = {}, {}
        for key, value in item.value:
            key_lines[key.value] = key.start_mark.line + 1
            if isinstance(value, yaml.MappingNode):  # android: {package: ...}: a line per key
                for sub_key, _ in value.value:
                    key_lines[f"{key.value}.{sub_key.value}"] = sub_key.start_mark.line + 1
            record[key.value] = constructor.construct_document(value)
        loader_records.append((line, record, key_lines))
    return loader_records


def _read_csv(path: Path) -> list[tuple[int, dict, dict]]:
    records = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            line = reader.line_num
            record = {}
            for key, value in row.items():
                if key is None:
                    raise TargetsError(path, line, "more cells than header columns")
                value = (value or "").strip()
                if key in LIST_KEYS:
                    record[key] = [v for v in re.split(r"[\s;|]+", value) if v]
                elif key in CSV_ANDROID_COLUMNS:
                    if value:
                        record.setdefault("android", {})[CSV_ANDROID_COLUMNS[key]] = value
                elif value:
                    record[key] = value
            records.append((line, record, {k: line for k in record}))
    return records


def _validate(path: Path, records) -> list[Target]:
    targets, seen = [], {}
    for line, record, key_lines in records:
        for key in record:
            if key not in KNOWN_KEYS:
                raise TargetsError(path, key_lines.get(key, line),
                                   f"unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})")
        target_id = record.get("id")
        if not isinstance(target_id, str) or not ID_RE.match(target_id):
            raise TargetsError(path, key_lines.get("id", line),
                               f"id {target_id!r} must be a lower-case slug (a-z, 0-9, ., _, -)")
        if target_id in seen:
            raise TargetsError(path, key_lines.get("id", line),
                               f"duplicate id {target_id!r} (first on line {seen[target_id]})")
        seen[target_id] = line
        audience = record.get("audience")
        if audience not in AUDIENCES:
            raise TargetsError(path, key_lines.get("audience", line),
                               f"target {target_id!r}: audience {audience!r} must be one of "
                               f"{', '.join(AUDIENCES)}")
        problem = check_url(record.get("homepage"))
        if problem:
            raise TargetsError(path, key_lines.get("homepage", line),
                               f"target {target_id!r}: homepage {problem}")
        lists = {}
        for key in LIST_KEYS:
            value = record.get(key) or []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TargetsError(path, key_lines.get(key, line),
                                   f"target {target_id!r}: {key} must be a list of strings")
            lists[key] = value
        for url in lists["policy_urls"]:
            problem = check_url(url)
            if problem:
                raise TargetsError(path, key_lines.get("policy_urls", line),
                                   f"target {target_id!r}: policy_urls {problem}")
        country = record.get("country")
        if country is not None and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
            raise TargetsError(path, key_lines.get("country", line),
                               f"target {target_id!r}: country {country!r} must be an ISO code like TH")
        android = None
        if record.get("android") is not None:
            android = _android_app(path, record["android"], key_lines, line, target_id)
        targets.append(
            Target(
                id=target_id, name=str(record.get("name") or target_id), audience=audience,
                homepage=record["homepage"].strip(), policy_urls=lists["policy_urls"],
                country=country, platforms=lists["platforms"], tags=lists["tags"], line=line,
                android=android,
            )
        )
    if not targets:
        raise TargetsError(path, None, "no targets listed")
    return targets


def _android_app(path: Path, raw, key_lines: dict, target_line: int, target_id: str) -> AndroidApp:
    """The `android:` mapping of a target, checked; a local APK path is resolved against the
    targets file's folder, so a registry and its APKs can move together."""
    where = f"target {target_id!r}: android"
    line = key_lines.get("android", target_line)
    if not isinstance(raw, dict):
        raise TargetsError(path, line, f"{where} must be a mapping with package, apk, store_url")
    for key in raw:
        if key not in ANDROID_KEYS:
            raise TargetsError(path, key_lines.get(f"android.{key}", line), f"{where}: unknown key {key!r} "
                                           f"(known: {', '.join(ANDROID_KEYS)})")
    package = raw.get("package")
    line = key_lines.get("android.package", line)
    if not isinstance(package, str) or not PACKAGE_RE.match(package.strip()):
        raise TargetsError(path, line, f"{where}.package {package!r} must be an application id "
                                       "like com.example.kids")
    apk = raw.get("apk")
    line = key_lines.get("android.apk", line)
    if apk is not None:
        if not isinstance(apk, str) or not apk.strip():
            raise TargetsError(path, line, f"{where}.apk must be a URL or a file path")
        apk = apk.strip()
        if "://" in apk:
            problem = check_url(apk)
            if problem:
                raise TargetsError(path, line, f"{where}.apk {problem}")
        else:
            local = Path(apk).expanduser()
            if not local.is_absolute():
                local = path.resolve().parent / local
            if not local.exists():
                raise TargetsError(path, line, f"{where}.apk {apk!r}: no such file or folder")
            apk = str(local)
    store_url = raw.get("store_url")
    line = key_lines.get("android.store_url", line)
    if store_url is not None:
        problem = check_url(store_url)
        if problem:
            raise TargetsError(path, line, f"{where}.store_url {problem}")
        store_url = store_url.strip()
    return AndroidApp(package=package.strip(), apk=apk, store_url=store_url)
