"""Android apps: what an APK declares and which tracking and ad SDKs it carries (docs/apps.md).

androguard parses the binary manifest and every DEX file; the SDKs are found by matching class
names against the project's curated SDK rules (rules/sdks/*.yaml) and the Exodus tracker code
signatures imported by `scanner trackers import --format exodus`. The archive is checked with
zipfile (declared sizes, ratio, CRC, a cap on every entry read) before androguard sees any byte.

Longer than 500 lines because signatures, archive reading, DEX matching, fetching and output are
one young feature in marked sections; each section is a module to split out once it settles.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from scanner.importers import IMPORTED_DIR as EXODUS_DIR
from scanner.importers import SDK_SIGNATURES_SUFFIX as EXODUS_SUFFIX
from scanner.download import file_sha256
from scanner.paths import RULES_DIR
from scanner.trackers import CATEGORIES

# Limits: the one place they are set. Google Play refuses APKs over 200 MB (base APK); 300 MB
# leaves room for side-loaded builds while keeping a hostile download bounded.
MAX_APK_BYTES = 300 * 1024 * 1024
MAX_ENTRY_BYTES = 256 * 1024 * 1024       # the largest manifest / DEX / resource table inflated
MAX_DECLARED_BYTES = 4 * 1024 ** 3        # sum of every entry's declared size
MAX_RATIO = 100                           # real DEX and resources compress 2-10x; zeros 1000x
RATIO_CHECKED_ABOVE = 1024 * 1024         # tiny entries compress oddly and cannot hurt
MAX_ENTRIES = 200_000
CHUNK_BYTES = 1024 * 1024

SDK_RULES_DIR = RULES_DIR / "sdks"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
DEX_NAME = re.compile(r"^classes(\d*)\.dex$")
# Exodus skips signatures this short: they match nearly every app.
MIN_EXODUS_SIGNATURE = 4


class AppAnalysisError(ValueError):
    """An APK that cannot be analysed; the message is one line naming the reason."""


class SdkRuleError(ValueError):
    """An SDK rule file that cannot be used; the message names the file, SDK id and field."""


def _quiet_androguard() -> None:
    # androguard logs through loguru at DEBUG to stderr by default: a line per parsed structure.
    from loguru import logger

    logger.disable("androguard")


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class SdkSignature:
    """One SDK to look for: curated class prefixes or an Exodus code-signature regex."""

    id: str
    name: str
    entity: str
    category: str
    source: str                                  # "curated 2026-12", "exodus 2024-05-03"
    class_prefixes: tuple[str, ...] = ()         # curated: dotted, "com.x." or "com.x.Class"
    exclude_prefixes: tuple[str, ...] = ()
    code_pattern: re.Pattern | None = None       # exodus: matched as Exodus does
    string_pattern: re.Pattern | None = None     # network evidence in the DEX string table
    # Text each pattern needs (one per alternative; None: cannot tell): a cheap `in` test first.
    code_literals: tuple[str, ...] | None = None
    string_literals: tuple[str, ...] | None = None
    child_directed_adtech: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def is_curated(self) -> bool:
        return self.code_pattern is None

    def prefix_matches(self, dotted_class: str) -> bool:
        """True when a class (dotted) is under one of the curated prefixes and no exclusion."""
        return _under_any(dotted_class, self.class_prefixes) and not self.is_excluded(dotted_class)

    def is_excluded(self, dotted_class: str) -> bool:
        return _under_any(dotted_class, self.exclude_prefixes)


def _under_any(dotted_class: str, prefixes) -> bool:
    """'com.x.' holds every class below it; 'com.x.Y' holds Y and its inner classes."""
    return any(dotted_class.startswith(p) if p.endswith(".")
               else dotted_class == p or dotted_class.startswith(p + "$") for p in prefixes)


@dataclass
class SignatureSet:
    """Every SDK signature in force, with the list versions they came from."""

    signatures: list[SdkSignature] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """The lists in force with their versions ('curated 2026-12', 'exodus 2024-05-03')."""
        return sorted({s.source for s in self.signatures})

    @property
    def curated(self) -> list[SdkSignature]:
        return [s for s in self.signatures if s.is_curated]

    @property
    def exodus(self) -> list[SdkSignature]:
        return [s for s in self.signatures if not s.is_curated]


SDK_RULE_KEYS = {"id", "name", "entity", "category", "class_prefixes", "exclude_prefixes", "domains",
                 "aliases", "child_directed_adtech", "examples", "notes"}
SDK_FILE_KEYS = {"source", "version", "license", "sdks"}
JAVA_PREFIX = re.compile(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+\.?$")
HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


def required_literals(regex: str) -> tuple[str, ...] | None:
    """The longest run of literal text in each top-level alternative of a regex, or None.

    A text with none of them cannot match, so most signatures are ruled out by a substring
    test; None when some alternative has no run of 3 characters or the regex ignores case.
    """
    try:
        from re import _parser as sre_parse
    except ImportError:  # Python 3.10
        import sre_parse
    try:
        parsed = sre_parse.parse(regex)
    except (re.error, RecursionError):
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    items = list(parsed)
    while len(items) == 1 and items[0][0] == sre_parse.SUBPATTERN:
        items = list(items[0][1][-1])
    alternatives = items[0][1][1] if len(items) == 1 and items[0][0] == sre_parse.BRANCH else [items]
    literals = []
    for alternative in alternatives:
        best, run = "", ""
        for op, value in alternative:
            run = run + chr(value) if op == sre_parse.LITERAL else ""
            best = max(best, run, key=len)
        if len(best) < 3:
            return None
        literals.append(best)
    return tuple(literals)


def _host_pattern(domains) -> re.Pattern | None:
    if not domains:
        return None
    alternatives = "|".join(re.escape(d) for d in sorted(domains, key=len, reverse=True))
    # Case-sensitive: hosts in code are lower case, and the substring pre-test must agree.
    return re.compile(rf"(?<![\w.-])(?:[\w-]+\.)*(?:{alternatives})(?![\w-])")


def _problems_of_sdk(path: Path, raw, seen: dict) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{path}: sdk ?: expected a mapping, got {type(raw).__name__}"]
    sdk_id = raw.get("id") or "?"
    where = f"{path}: sdk {sdk_id}"
    problems = [f"{where}: {key}: unknown field" for key in sorted(set(raw) - SDK_RULE_KEYS)]
    for key in ("id", "name", "entity", "category"):
        if not isinstance(raw.get(key), str) or not raw.get(key).strip():
            problems.append(f"{where}: {key}: missing or not a string")
    if isinstance(raw.get("id"), str):
        if raw["id"] in seen:
            problems.append(f"{where}: id: duplicate (also in {seen[raw['id']]})")
        seen.setdefault(raw["id"], path)
    if isinstance(raw.get("category"), str) and raw["category"] not in CATEGORIES:
        problems.append(f"{where}: category: {raw['category']!r} unknown; one of {', '.join(CATEGORIES)}")
    for key, required in (("class_prefixes", True), ("exclude_prefixes", False)):
        value = raw.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, list) or (required and not value):
            problems.append(f"{where}: {key}: expected a non-empty list of class or package names")
            continue
        for prefix in value:
            if not isinstance(prefix, str) or not JAVA_PREFIX.match(prefix):
                problems.append(f"{where}: {key}: {prefix!r} is not a dotted package ('com.x.') or class name")
    domains = raw.get("domains")
    if domains is not None and (not isinstance(domains, list)
                                or not all(isinstance(d, str) and HOST.match(d) for d in domains)):
        problems.append(f"{where}: domains: expected a list of lower-case host names")
    aliases = raw.get("aliases")
    if aliases is not None and (not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases)):
        problems.append(f"{where}: aliases: expected a list of names")
    if not isinstance(raw.get("child_directed_adtech", False), bool):
        problems.append(f"{where}: child_directed_adtech: expected true or false")
    examples = raw.get("examples")
    if not isinstance(examples, dict) or set(examples) - {"match", "no_match"}:
        problems.append(f"{where}: examples: expected a mapping with match and no_match")
    else:
        for key in ("match", "no_match"):
            value = examples.get(key)
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                problems.append(f"{where}: examples.{key}: needs at least one class name")
    return problems


def _curated_signature(raw: dict, source: str) -> SdkSignature:
    return SdkSignature(
        id=raw["id"], name=raw["name"], entity=raw["entity"], category=raw["category"], source=source,
        class_prefixes=tuple(raw["class_prefixes"]), exclude_prefixes=tuple(raw.get("exclude_prefixes") or ()),
        string_pattern=_host_pattern(raw.get("domains")),
        string_literals=tuple(raw["domains"]) if raw.get("domains") else None,
        child_directed_adtech=bool(raw.get("child_directed_adtech", False)),
        aliases=tuple(raw.get("aliases") or ()),
    )


def _read_yaml(path: Path, error=SdkRuleError):
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise error(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None


def sdk_rule_files(paths=None) -> list[Path]:
    files = []
    for path in [Path(p) for p in paths] if paths else [SDK_RULES_DIR]:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def check_sdk_rules(paths=None) -> tuple[list[str], int]:
    """Validate SDK rule files and run each rule's examples: (one-line problems, SDKs checked)."""
    problems, count, seen = [], 0, {}
    for path in sdk_rule_files(paths):
        try:
            data = _read_yaml(path)
        except SdkRuleError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("sdks"), list):
            problems.append(f"{path}: sdks: missing (expected a list of SDK rules)")
            continue
        problems += [f"{path}: {key}: unknown top-level field" for key in sorted(set(data) - SDK_FILE_KEYS)]
        for raw in data["sdks"]:
            count += 1
            found = _problems_of_sdk(path, raw, seen)
            problems += found
            if found:
                continue
            signature = _curated_signature(raw, "curated")
            for name in raw["examples"]["match"]:
                if not signature.prefix_matches(name):
                    problems.append(f"{path}: sdk {raw['id']}: examples.match: does not match: {name!r}")
            for name in raw["examples"]["no_match"]:
                if signature.prefix_matches(name):
                    problems.append(f"{path}: sdk {raw['id']}: examples.no_match: matches: {name!r}")
    return problems, count


def load_sdk_rules(paths=None) -> list[SdkSignature]:
    """The curated SDK signatures; raises SdkRuleError (the first problem) on a bad file."""
    signatures, seen = [], {}
    for path in sdk_rule_files(paths):
        data = _read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("sdks"), list):
            raise SdkRuleError(f"{path}: sdks: missing (expected a list of SDK rules)")
        source = f"{data.get('source') or 'curated'} {data.get('version') or ''}".strip()
        for raw in data["sdks"]:
            problems = _problems_of_sdk(path, raw, seen)
            if problems:
                raise SdkRuleError(problems[0])
            signatures.append(_curated_signature(raw, source))
    return signatures


def _read_signature_file(path: Path) -> dict:
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SdkRuleError(f"{path}: not a readable JSON signature file: {exc}") from None
    else:
        data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SdkRuleError(f"{path}: expected a mapping")
    return data


def exodus_code_pattern(signature: str) -> re.Pattern | None:
    """An Exodus code_signature as Exodus applies it to class names written with '/'.

    Its unescaped '.' already matches '/'; an escaped '\\.' is widened to match both.
    """
    if not signature or len(signature) < MIN_EXODUS_SIGNATURE:
        return None
    try:
        return re.compile(signature.replace("\\.", "[./]"))
    except re.error:
        return None


def load_exodus_signatures(files) -> tuple[list[SdkSignature], dict[str, str | None]]:
    """SDK signatures from imported Exodus lists (the `sdk_signatures` of each file)."""
    signatures, versions = [], {}
    for path in files:
        data = _read_signature_file(Path(path))
        if data.get("format") != "exodus" or not isinstance(data.get("sdk_signatures"), list):
            raise SdkRuleError(f"{path}: sdk_signatures: missing; re-import the list with "
                               "`scanner trackers import --format exodus`")
        version = data.get("version")
        versions[str(path)] = version
        source = f"{data.get('source') or 'exodus'} {version or ''}".strip()
        for raw in data.get("sdk_signatures") or []:
            pattern = exodus_code_pattern(str(raw.get("code_signature") or ""))
            if pattern is None:
                continue
            network = raw.get("network_signature") or ""
            try:
                string_pattern = re.compile(network) if len(network) >= MIN_EXODUS_SIGNATURE else None
            except re.error:
                string_pattern = None
            signatures.append(SdkSignature(
                id=f"exodus:{raw.get('id')}", name=str(raw.get("name")), entity=str(raw.get("name")),
                category=raw.get("category") or "unclassified", source=source,
                code_pattern=pattern, string_pattern=string_pattern,
                code_literals=required_literals(pattern.pattern),
                string_literals=required_literals(string_pattern.pattern) if string_pattern else None,
            ))
    return signatures, versions


def default_exodus_files() -> list[Path]:
    """What `scanner trackers import --format exodus` wrote beside the web list."""
    return sorted(EXODUS_DIR.glob(f"*{EXODUS_SUFFIX}")) if EXODUS_DIR.is_dir() else []


def load_signatures(sdk_rules=None, exodus_files=None) -> SignatureSet:
    """Curated SDK rules (default rules/sdks) and imported Exodus lists (default exodus*.yaml)."""
    curated = load_sdk_rules(sdk_rules)
    files = default_exodus_files() if exodus_files is None else [Path(p) for p in exodus_files]
    exodus, versions = load_exodus_signatures(files)
    return SignatureSet(curated + exodus, [str(p) for p in sdk_rule_files(sdk_rules)] + list(versions))


# --------------------------------------------------------------------------- results


@dataclass
class SdkMatch:
    """An SDK found in an APK, with the class (or type, or string) that proves it."""

    name: str
    entity: str
    category: str
    evidence: str                       # the first matching class name, dotted
    source: str                         # the signature list and its version
    child_directed_adtech: bool = False
    sdk_id: str = ""
    evidence_kind: str = "class"        # class: defined in a DEX; referenced_type: only referenced
    network_evidence: str | None = None  # a DEX string matching the SDK's hosts / network signature
    also_matched_by: list[str] = field(default_factory=list)

    @property
    def is_data_broker(self) -> bool:
        """As a tracker's flag: SDK rules file data brokers under their own category."""
        return self.category == "data_broker"


@dataclass
class AppAnalysis:
    path: str
    sha256: str
    size: int
    package: str
    version_name: str | None
    version_code: int | None
    min_sdk: int | None
    target_sdk: int | None
    permissions: list[str]
    sdks: list[SdkMatch]
    classes_count: int
    dex_count: int
    strings_count: int = 0
    signature_sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DexContents:
    """What the matching needs from every DEX: class names (defined, referenced) and strings."""

    classes: list[str]              # defined classes, 'com/x/Y' form, DEX order
    referenced: list[str]           # types referenced but defined in no DEX of the APK
    strings: list[str]
    dex_count: int


# --------------------------------------------------------------------------- reading the archive


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def open_archive(path: Path, max_bytes: int = MAX_APK_BYTES) -> tuple[zipfile.ZipFile, int]:
    """Open an APK's zip after the size, zip-format and zip-bomb checks; (zip, file size)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AppAnalysisError("no such file") from None
    except OSError as exc:
        raise AppAnalysisError(f"cannot read: {exc.strerror or exc}") from None
    if not path.is_file():
        raise AppAnalysisError("not a regular file")
    if size > max_bytes:
        raise AppAnalysisError(f"APK is {_mb(size)}, over the {_mb(max_bytes)} limit")
    with path.open("rb") as handle:
        magic = handle.read(4)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        if magic == b"PK\x03\x04":
            raise AppAnalysisError("truncated or corrupt zip: no readable central directory") from None
        raise AppAnalysisError("not a zip file (an APK is a zip archive)") from None
    except (OSError, ValueError, NotImplementedError) as exc:
        raise AppAnalysisError(f"corrupt zip: {exc}") from None
    try:
        check_zip_bomb(archive.infolist())
    except AppAnalysisError:
        archive.close()
        raise
    return archive, size


def check_zip_bomb(entries: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive whose declared sizes or compression ratios no real APK has."""
    if len(entries) > MAX_ENTRIES:
        raise AppAnalysisError(f"zip bomb suspected: {len(entries)} entries (limit {MAX_ENTRIES})")
    declared = sum(e.file_size for e in entries)
    if declared > MAX_DECLARED_BYTES:
        raise AppAnalysisError(f"zip bomb suspected: entries declare {_mb(declared)} uncompressed "
                               f"(limit {_mb(MAX_DECLARED_BYTES)})")
    for entry in entries:
        if entry.file_size > RATIO_CHECKED_ABOVE and entry.compress_type != zipfile.ZIP_STORED:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if ratio > MAX_RATIO:
                raise AppAnalysisError(f"zip bomb suspected: {entry.filename} inflates {ratio:.0f}x "
                                       f"({_mb(entry.compress_size)} to {_mb(entry.file_size)}; limit {MAX_RATIO}x)")


def read_entry(archive: zipfile.ZipFile, name: str, cap: int = MAX_ENTRY_BYTES) -> bytes:
    """An entry's bytes, inflated in chunks and stopped at `cap` whatever its header declares."""
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise AppAnalysisError(f"{name} declares {_mb(info.file_size)}, over the {_mb(cap)} limit per entry")
    parts, total = [], 0
    try:
        with archive.open(info) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                total += len(chunk)
                if total > cap:
                    raise AppAnalysisError(f"zip bomb suspected: {name} inflates past {_mb(cap)}")
                parts.append(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        if isinstance(exc, AppAnalysisError):
            raise
        raise AppAnalysisError(f"corrupt entry {name}: {exc}") from None
    return b"".join(parts)


def dex_names(archive: zipfile.ZipFile) -> list[str]:
    """classes.dex, classes2.dex, ... in the order Android loads them."""
    found = [(int(m.group(1) or 1), n) for n in archive.namelist() if (m := DEX_NAME.match(n))]
    return [name for _, name in sorted(found)]


def _int_or_none(value) -> int | None:
    try:
        return int(str(value), 0)
    except (TypeError, ValueError):
        return None


def read_manifest(archive: zipfile.ZipFile) -> dict:
    """Package, version, SDK levels and permissions from the binary AndroidManifest.xml."""
    _quiet_androguard()
    from androguard.core.axml import AXMLPrinter

    if "AndroidManifest.xml" not in archive.namelist():
        raise AppAnalysisError("no AndroidManifest.xml: not an APK")
    data = read_entry(archive, "AndroidManifest.xml")
    try:
        printer = AXMLPrinter(data)
        root = printer.get_xml_obj() if printer.is_valid() else None
    except Exception as exc:  # androguard raises assorted errors on a damaged binary XML
        raise AppAnalysisError(f"AndroidManifest.xml unreadable: {type(exc).__name__}: {exc}") from None
    if root is None or root.tag != "manifest":
        raise AppAnalysisError("AndroidManifest.xml is not a binary Android manifest")

    def attr(element, name):
        if element is None:
            return None
        return element.get(ANDROID_NS + name, element.get(name))

    package = root.get("package")
    if not package:
        raise AppAnalysisError("AndroidManifest.xml has no package name")
    uses_sdk = root.find("uses-sdk")
    permissions = []
    for tag in ("uses-permission", "uses-permission-sdk-23"):
        for element in root.findall(tag):
            name = attr(element, "name")
            if name and name not in permissions:
                permissions.append(name)
    version_name = attr(root, "versionName")
    if version_name and version_name.startswith("@"):
        version_name = _resolve_string(archive, version_name) or version_name
    return {
        "package": package, "version_name": version_name,
        "version_code": _int_or_none(attr(root, "versionCode")),
        "min_sdk": _int_or_none(attr(uses_sdk, "minSdkVersion")),
        "target_sdk": _int_or_none(attr(uses_sdk, "targetSdkVersion")),
        "permissions": sorted(permissions),
    }


def _resolve_string(archive: zipfile.ZipFile, reference: str) -> str | None:
    """A manifest value given as a resource reference ('@7F0B0001') read from resources.arsc."""
    from androguard.core.axml import ARSCParser

    res_id = _int_or_none("0x" + reference.lstrip("@").split("/")[-1])
    if res_id is None or "resources.arsc" not in archive.namelist():
        return None
    try:
        configs = ARSCParser(read_entry(archive, "resources.arsc")).get_resolved_res_configs(res_id)
    except AppAnalysisError:
        raise
    except Exception:  # noqa: BLE001 - an unresolvable reference keeps its raw '@id' value
        return None
    return str(configs[0][1]) if configs else None


@lru_cache(maxsize=1)
def _tables_dex_class():
    """androguard's DEX reading only the string, type and class-definition tables.

    The full DEX also parses every method's code, debug info and annotations: 3-4x the time,
    and none of it names a class. The sections are parsed by androguard's own item classes;
    only the choice of which map items to parse is made here.
    """
    from androguard.core.dex import DEX, HeaderItem, MapItem, MapList, TypeMapItem

    # What ClassDefItem resolves when it loads (type names, interfaces, static values,
    # annotation directories); class data and code stay unread.
    needed = {TypeMapItem.HEADER_ITEM, TypeMapItem.STRING_ID_ITEM, TypeMapItem.STRING_DATA_ITEM,
              TypeMapItem.TYPE_ID_ITEM, TypeMapItem.TYPE_LIST, TypeMapItem.CLASS_DEF_ITEM,
              TypeMapItem.ENCODED_ARRAY_ITEM, TypeMapItem.ANNOTATIONS_DIRECTORY_ITEM, TypeMapItem.MAP_LIST}

    class TablesMapList(MapList):
        def __init__(self, cm, off, buff):  # MapList.__init__, parsing only the `needed` items
            self.CM, self.offset = cm, off
            buff.seek(off)
            (self.size,) = cm.packer["I"].unpack(buff.read(4))
            self.map_item = []
            for _ in range(self.size):
                start = buff.tell()
                item = MapItem(buff, cm)
                self.map_item.append(item)
                buff.seek(start + item.get_length())
            order = TypeMapItem.determine_load_order()
            for item in sorted((i for i in self.map_item if i.get_type() in needed),
                               key=lambda i: order[i.get_type()]):
                item.parse()
                if item.get_item() is None:
                    item.set_item(self)
                cm.add_type_item(item.get_type(), item, item.get_item())

    class TablesDex(DEX):
        def _load(self, buff) -> None:
            self.header = HeaderItem(0, self.raw, self.CM)
            self.map_list = TablesMapList(self.CM, self.header.map_off, self.raw)
            self.classes = self.map_list.get_item_type(TypeMapItem.CLASS_DEF_ITEM)
            self.strings = self.map_list.get_item_type(TypeMapItem.STRING_DATA_ITEM)
            self.methods = self.fields = self.codes = self.debug = self.hidden_api = None
            self._flush()

    return TablesDex


def _dex_tables(data: bytes) -> tuple[list[str], list[str], list[str]]:
    """(defined class descriptors, every type descriptor, every string) of one DEX."""
    from androguard.core.dex import DEX, TypeMapItem

    try:
        dex = _tables_dex_class()(data)
    except Exception:  # noqa: BLE001 - the full parser is the reference: it decides
        dex = DEX(data)
    if getattr(dex, "map_list", None) is None:
        raise ValueError("no map list: empty or damaged DEX")
    type_table = dex.map_list.get_item_type(TypeMapItem.TYPE_ID_ITEM)
    types = [t.get_descriptor_idx_value() for t in type_table.get_type()] if type_table else []
    return dex.get_classes_names(), types, list(dex.get_strings())


def read_dex_contents(archive: zipfile.ZipFile) -> DexContents:
    """Every defined class, every referenced type and every string of every DEX (multidex)."""
    _quiet_androguard()
    classes, types, strings = [], set(), []
    names = dex_names(archive)
    for name in names:
        data = read_entry(archive, name)
        try:
            defined, referenced, table = _dex_tables(data)
        except Exception as exc:  # androguard raises assorted errors on a damaged DEX
            raise AppAnalysisError(f"{name} is not a readable DEX file: {type(exc).__name__}: {exc}") from None
        del data
        classes += [c[1:-1] for c in defined if c.startswith("L") and c.endswith(";")]
        types.update(t.lstrip("[")[1:-1] for t in referenced if t.lstrip("[").startswith("L"))
        strings += table
    defined_set = set(classes)
    referenced_only = sorted(types - defined_set)
    return DexContents(classes=classes, referenced=referenced_only, strings=strings, dex_count=len(names))


# --------------------------------------------------------------------------- matching


def _dotted(slash_name: str) -> str:
    return slash_name.replace("/", ".")


class _Lines:
    """Names joined by newlines, searched as one text (one regex scan per signature)."""

    def __init__(self, names: list[str]):
        self.text = "\n" + "\n".join(names) + "\n"

    def line_at(self, position: int) -> str:
        start = self.text.rfind("\n", 0, position) + 1
        return self.text[start:self.text.find("\n", position)]

    def find_prefix(self, slash_prefix: str, exact_class: bool, excluded, lookahead: int = 64) -> str | None:
        """First name under a prefix ('com/x/' or class 'com/x/Y'), skipping exclusions.

        An inner class ('A$1') sorts before its outer class in a DEX; the first top-level class
        among the next few matches is shown instead, as it reads better as evidence.
        """
        needle = "\n" + slash_prefix
        position, first = self.text.find(needle), None
        while position != -1:
            name = self.line_at(position + 1)
            if (not exact_class or name == slash_prefix or name.startswith(slash_prefix + "$")) \
                    and not excluded(name):
                if "$" not in name:
                    return name
                first = first or name
                lookahead -= 1
                if lookahead <= 0:
                    break
            position = self.text.find(needle, position + 1)
        return first

    def search(self, pattern: re.Pattern, literals=None) -> str | None:
        """The first line the pattern matches in; not tried when none of `literals` is in the text."""
        if literals is not None and not any(lit in self.text for lit in literals):
            return None
        match = pattern.search(self.text)
        return self.line_at(match.start()) if match else None


def _segments_text(*name_lists) -> str:
    """Every distinct package / class segment once: a short text in which any literal without '/'
    that occurs in a class name also occurs."""
    segments = set()
    for names in name_lists:
        for name in names:
            segments.update(name.split("/"))
    return "\n".join(segments)


def match_sdks(contents: DexContents, signatures: SignatureSet) -> list[SdkMatch]:
    """Curated rules on defined classes; Exodus signatures as Exodus applies them (referenced types too)."""
    defined = _Lines(contents.classes)
    referenced = _Lines(contents.referenced)
    strings = segments = None      # built on first use
    matches: list[SdkMatch] = []
    curated_hits: list[tuple[SdkSignature, SdkMatch]] = []

    def network_evidence(signature):
        nonlocal strings
        if signature.string_pattern is None:
            return None
        if strings is None:
            strings = _Lines([s.replace("\n", " ") for s in contents.strings])
        return strings.search(signature.string_pattern, signature.string_literals)

    def code_prefilter(literals):
        """The short segments text when the literals cannot span a '/', else the full texts."""
        nonlocal segments
        if literals is None or any("/" in lit or "\n" in lit for lit in literals):
            return None
        if segments is None:
            segments = _segments_text(contents.classes, contents.referenced)
        return segments

    for signature in signatures.curated:
        def excluded(name, signature=signature):
            return signature.is_excluded(_dotted(name))
        found = None
        for prefix in signature.class_prefixes:
            found = defined.find_prefix(prefix.replace(".", "/"), not prefix.endswith("."), excluded)
            if found:
                break
        if found:
            match = SdkMatch(
                name=signature.name, entity=signature.entity, category=signature.category,
                evidence=_dotted(found), source=signature.source, sdk_id=signature.id,
                child_directed_adtech=signature.child_directed_adtech,
                network_evidence=network_evidence(signature))
            matches.append(match)
            curated_hits.append((signature, match))

    for signature in signatures.exodus:
        literals, prefilter = signature.code_literals, code_prefilter(signature.code_literals)
        if prefilter is not None and not any(lit in prefilter for lit in literals):
            continue
        kind, found = "class", defined.search(signature.code_pattern, literals)
        if found is None:
            kind, found = "referenced_type", referenced.search(signature.code_pattern, literals)
        if found is None:
            continue
        owner = next((m for s, m in curated_hits if s.prefix_matches(_dotted(found))), None)
        label = f"{signature.source}: {signature.name}"
        if owner is not None:  # the same SDK a curated rule already names: one row, two sources
            owner.also_matched_by.append(label)
            if owner.network_evidence is None:
                owner.network_evidence = network_evidence(signature)
            continue
        matches.append(SdkMatch(
            name=signature.name, entity=signature.entity, category=signature.category,
            evidence=_dotted(found), source=signature.source, sdk_id=signature.id,
            evidence_kind=kind, network_evidence=network_evidence(signature)))
    return matches


# --------------------------------------------------------------------------- the API


def analyse_apk(path, signatures: SignatureSet, max_bytes: int = MAX_APK_BYTES) -> AppAnalysis:
    """Manifest facts and the SDKs an APK carries; AppAnalysisError (one line) on bad input."""
    path = Path(path)
    archive, size = open_archive(path, max_bytes)
    with archive:
        manifest = read_manifest(archive)
        contents = read_dex_contents(archive)
    return AppAnalysis(
        path=str(path), sha256=file_sha256(path), size=size, **manifest,
        sdks=match_sdks(contents, signatures), classes_count=len(contents.classes),
        dex_count=contents.dex_count, strings_count=len(contents.strings),
        signature_sources=signatures.sources,
    )


# --------------------------------------------------------------------------- fetching


def is_url(value: str) -> bool:
    return urlsplit(str(value)).scheme in ("http", "https")


def fetch_apk(url_or_path, dest_dir, max_bytes: int = MAX_APK_BYTES, *, allow_private: bool = False,
              url_check=None, timeout: float = 600.0) -> Path:
    """A local APK path as is, or a URL streamed to dest_dir in chunks (never whole in memory).

    Every URL, redirects included, passes scanner.safety's address check first (`url_check`
    replaces it, e.g. with the loopback-only check of a test run).
    """
    if not is_url(str(url_or_path)):
        path = Path(url_or_path)
        if not path.is_file():
            raise AppAnalysisError(f"{path}: no such file")
        if path.stat().st_size > max_bytes:
            raise AppAnalysisError(f"{path}: APK is {_mb(path.stat().st_size)}, over the {_mb(max_bytes)} limit")
        return path
    from scanner.download import DownloadError, stream_to_file
    from scanner.safety import url_problem

    url = str(url_or_path)
    name = re.sub(r"[^\w.-]", "_", Path(urlsplit(url).path).name or "download.apk")
    partial = Path(dest_dir) / f"download-{os.getpid()}-{name}"
    try:
        sha256 = stream_to_file(
            url, partial, max_bytes=max_bytes, timeout=timeout,
            check=url_check or (lambda target: url_problem(target, allow_private)),
            user_agent="child-privacy-scanner (apps)")
    except DownloadError as exc:
        raise AppAnalysisError(str(exc)) from None
    final = partial.with_name(f"{sha256[:16]}-{name}")
    os.replace(partial, final)
    return final


# --------------------------------------------------------------------------- output


def analysis_json(analysis: AppAnalysis, shown_path: str) -> dict:
    """The `scanner apps analyse --format json` record of one APK (docs/apps.md)."""
    record = {"file": shown_path, "package": analysis.package, "version_name": analysis.version_name,
              "version_code": analysis.version_code, "min_sdk": analysis.min_sdk,
              "target_sdk": analysis.target_sdk, "permissions": analysis.permissions,
              "sdks": [asdict(m) for m in analysis.sdks], "sha256": analysis.sha256,
              "size": analysis.size, "dex_count": analysis.dex_count,
              "classes_count": analysis.classes_count, "strings_count": analysis.strings_count,
              "signature_sources": analysis.signature_sources}
    return record


def analysis_table(analysis: AppAnalysis, shown_path: str) -> str:
    """A human-readable block for one APK: facts, then one line per SDK with its evidence."""
    lines = [
        f"{shown_path}",
        f"  package      {analysis.package}  version {analysis.version_name or '-'} "
        f"(code {analysis.version_code if analysis.version_code is not None else '-'})",
        f"  sdk levels   min {analysis.min_sdk or '-'}  target {analysis.target_sdk or '-'}",
        f"  file         {analysis.size} bytes  sha256 {analysis.sha256}",
        f"  code         {analysis.dex_count} DEX, {analysis.classes_count} classes, "
        f"{analysis.strings_count} strings",
        f"  permissions  {len(analysis.permissions)}",
    ]
    lines += [f"    {p}" for p in analysis.permissions]
    lines.append(f"  SDKs         {len(analysis.sdks)}")
    width = max((len(m.name) for m in analysis.sdks), default=0)
    for match in analysis.sdks:
        kid = "  [child-directed ad network]" if match.child_directed_adtech else ""
        lines.append(f"    {match.name:<{width}}  {match.entity} / {match.category}{kid}")
        kind = "" if match.evidence_kind == "class" else f" ({match.evidence_kind.replace('_', ' ')})"
        lines.append(f"      class {match.evidence}{kind}  [{match.source}]")
        if match.network_evidence:
            lines.append(f"      string {match.network_evidence[:120]}")
        for other in match.also_matched_by:
            lines.append(f"      also {other}")
    return "\n".join(lines)
