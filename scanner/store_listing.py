"""Read what an app's Google Play page declares: developer, policy URL, ads, age, data safety.

Google Play pages carry their data as JSON in `AF_initDataCallback({key: 'ds:N', ..., data: [...]})`
script blocks. They are found with google-play-scraper's own patterns (`Regex`) and read with
`json`; the fields that library maps (title, developer, e-mail, website, privacy policy, genre,
content rating, ads) are read with its `ElementSpecs.Detail`, so a format change fixed upstream
is fixed here by upgrading it. Its `app()` is never called: nothing here fetches.
The library maps neither the data-safety section nor the children's badges: data safety is read
from the same app record where the public parsers read it (google-play-scraper for Node and
parse-play: `[137][4]` shared / collected, `[137][9][2]` security practices); the badges
("Teacher Approved", "Ages 6-8"), whose positions no public parser documents, by exact label.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from google_play_scraper.constants.element import ElementSpecs
from google_play_scraper.constants.regex import Regex

# The app record sits in ds:5 on a details page and in ds:3 on a data-safety page.
PREFERRED_BLOCKS = ("ds:5", "ds:3")
# Indexes of the app record that hold free text written by the developer: a badge label quoted
# there ("Teacher approved fun!") is not a badge.
FREE_TEXT_INDEXES = {0, 72, 73, 144}
DATA_SAFETY_INDEX = 137
TEACHER_APPROVED_LABEL = "teacher approved"
AGE_LABEL_RE = re.compile(
    r"^ages? (?:\d+ ?(?:-|–|to) ?\d+|\d+ ?(?:&|and) ?(?:under|up|over)|\d+\+)$", re.IGNORECASE)
FAMILIES_LABELS = {"designed for families", "committed to follow the play families policy"}
# Google's published purposes; one of them has commas of its own, so the list is not split on ",".
PURPOSES = ("App functionality", "Analytics", "Developer communications", "Advertising or marketing",
            "Fraud prevention, security, and compliance", "Personalization", "Account management")
ENCRYPTED, NOT_ENCRYPTED = "Data is encrypted in transit", "Data isn’t encrypted"
DELETABLE, NOT_DELETABLE = "You can request that data be deleted", "Data can’t be deleted"
# Fields a regulator expects on every listing: missing ones are reported in `problems`.
EXPECTED_FIELDS = ("package", "title", "developer", "developer_email", "privacy_policy_url",
                   "category", "content_rating", "contains_ads", "data_safety")


class StoreListingError(ValueError):
    """A page that is not a readable store listing; str() is `URL: reason` on one line."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


@dataclass
class DeclaredData:
    """One data type of the data-safety section (a row under "Data shared" or "Data collected")."""

    category: str | None             # Personal info, Location, Device or other IDs, ...
    data_type: str | None            # Email address, Approximate location, ...
    purposes: list = field(default_factory=list)
    optional: bool | None = None


@dataclass
class DataSafety:
    """The data-safety declarations, as the developer made them to Google."""

    source_url: str
    declared: bool                   # False: "No information available" from the developer
    data_shared: list = field(default_factory=list)      # [DeclaredData]
    data_collected: list = field(default_factory=list)   # [DeclaredData]
    no_data_shared: bool | None = None
    no_data_collected: bool | None = None
    security_practices: list = field(default_factory=list)  # headings, as shown
    encrypted_in_transit: bool | None = None
    deletion_can_be_requested: bool | None = None


@dataclass
class StoreListing:
    url: str
    package: str | None = None
    title: str | None = None
    developer: str | None = None
    developer_email: str | None = None
    developer_website: str | None = None
    category: str | None = None
    category_id: str | None = None
    categories: list = field(default_factory=list)   # [{"name", "id"}]
    privacy_policy_url: str | None = None
    contains_ads: bool | None = None
    in_app_purchases: bool | None = None
    content_rating: str | None = None
    interactive_elements: list = field(default_factory=list)
    target_ages: list = field(default_factory=list)  # ["Ages 5 & Under", "Ages 6-8"]: shown labels
    designed_for_families: bool | None = None
    teacher_approved: bool | None = None
    data_safety: DataSafety | None = None
    problems: list = field(default_factory=list)      # "field: why it could not be read"

    def to_dict(self) -> dict:
        return asdict(self)


def parse_store_listing(html: str, url: str) -> StoreListing:
    """The declarations of a Google Play details or data-safety page; StoreListingError if none."""
    blocks = read_data_blocks(html, url)
    key = find_app_record(blocks, url)
    record = blocks[key][1][2]
    library_fields = _library_fields(record)
    listing = StoreListing(url=url)
    page_package = _dig(blocks[key], 1, 11, 0, 0) or _dig(record, 77, 0)
    listing.package = package_from_url(url) or (page_package if isinstance(page_package, str) else None)
    listing.title = library_fields["title"]
    listing.developer = library_fields["developer"]
    listing.developer_email = library_fields["developerEmail"]
    listing.developer_website = library_fields["developerWebsite"]
    listing.privacy_policy_url = library_fields["privacyPolicy"]
    listing.category = library_fields["genre"]
    listing.category_id = library_fields["genreId"]
    listing.categories = [c for c in library_fields["categories"] or [] if c.get("name")]
    listing.content_rating = library_fields["contentRating"]
    listing.contains_ads = library_fields["adSupported"]
    # The library's offersIAP says False for a record too short to tell; an empty slot is "none".
    listing.in_app_purchases = bool(record[19]) if len(record) > 19 else None
    elements = _dig(record, 9, 3, 1)
    listing.interactive_elements = ([e.strip() for e in elements.split(",") if e.strip()]
                                    if isinstance(elements, str) else [])
    labels = list(_labels(record))
    listing.target_ages = _unique(label for label in labels if AGE_LABEL_RE.match(label))
    listing.teacher_approved = any(label.casefold() == TEACHER_APPROVED_LABEL for label in labels)
    listing.data_safety = read_data_safety(record, url)
    listing.designed_for_families = (
        any(label.casefold() in FAMILIES_LABELS for label in labels)
        or any(str(c.get("id") or "").startswith("FAMILY") for c in listing.categories))
    listing.problems = missing_fields(listing)
    return listing


def read_data_blocks(html: str, url: str) -> dict:
    """{'ds:N': data} of every AF_initDataCallback block, read by google-play-scraper's patterns."""
    scripts = Regex.SCRIPT.findall(html)
    if not scripts:
        raise StoreListingError(url, "not a store listing: no AF_initDataCallback data in the page")
    blocks = {}
    for script in scripts:
        keys, values = Regex.KEY.findall(script), Regex.VALUE.findall(script)
        if not keys or not values:
            continue
        try:
            blocks[keys[0]] = json.loads(values[0])
        except ValueError:
            continue  # one unreadable block (not the app's) must not hide the others
    if not blocks:
        raise StoreListingError(url, f"{len(scripts)} AF_initDataCallback blocks but none readable "
                                     "as 'data: [...], sideChannel' JSON (page format changed?)")
    return blocks


def find_app_record(blocks: dict, url: str) -> str:
    """The key of the block holding the app record (`ds:N[1][2]`): ds:5 or ds:3 first, then any."""
    order = [key for key in PREFERRED_BLOCKS if key in blocks]
    order += sorted((key for key in blocks if key not in order), key=_block_number)
    for key in order:
        if _is_app_record(_dig(blocks[key], 1, 2)):
            return key
    keys = ", ".join(sorted(blocks, key=_block_number))
    raise StoreListingError(url, f"page changed shape: no app record (title, developer) in any "
                                 f"AF_initDataCallback block ({keys})")


def read_data_safety(record: list, url: str) -> DataSafety | None:
    """The data-safety section of an app record, or None when the page does not carry it."""
    if len(record) <= DATA_SAFETY_INDEX or not isinstance(record[DATA_SAFETY_INDEX], list):
        return None
    section = record[DATA_SAFETY_INDEX]
    sections = _dig(section, 4)
    practices = [_dig(entry, 1) for entry in _dig(section, 9, 2) or []]
    practices = [p for p in practices if isinstance(p, str)]
    safety = DataSafety(source_url=url, declared=isinstance(sections, list),
                        security_practices=practices,
                        encrypted_in_transit=_practice(practices, ENCRYPTED, NOT_ENCRYPTED),
                        deletion_can_be_requested=_practice(practices, DELETABLE, NOT_DELETABLE))
    if safety.declared:
        safety.data_shared = _declared_rows(_dig(sections, 0, 0))
        safety.data_collected = _declared_rows(_dig(sections, 1, 0))
        safety.no_data_shared = not safety.data_shared
        safety.no_data_collected = not safety.data_collected
    return safety


def missing_fields(listing: StoreListing) -> list[str]:
    problems = []
    for name in EXPECTED_FIELDS:
        if getattr(listing, name) is None:
            where = "page" if name != "data_safety" else "page (see the data-safety page)"
            problems.append(f"{name}: not found in the {where}")
    return problems


def with_data_safety(listing: StoreListing, safety_page: StoreListing) -> StoreListing:
    """The listing with the data-safety section read from the separate data-safety page."""
    listing.data_safety = safety_page.data_safety
    listing.privacy_policy_url = listing.privacy_policy_url or safety_page.privacy_policy_url
    # The families-policy commitment is one of the data-safety practices.
    listing.designed_for_families = listing.designed_for_families or safety_page.designed_for_families
    listing.problems = missing_fields(listing)
    return listing


def datasafety_url(listing_url: str, package: str) -> str:
    """The data-safety page beside a details page (same host, same language)."""
    parts = urlsplit(listing_url)
    query = {"id": package}
    lang = parse_qs(parts.query).get("hl")
    if lang:
        query["hl"] = lang[0]
    return urlunsplit((parts.scheme, parts.netloc, "/store/apps/datasafety", urlencode(query), ""))


def package_from_url(url: str) -> str | None:
    ids = parse_qs(urlsplit(url).query).get("id")
    return ids[0] if ids else None


def _library_fields(record: list) -> dict:
    # The library's specs address ds:5; the record may come from ds:3 (data-safety page).
    source = {"ds:5": [None, [None, None, record]]}
    names = ("title", "developer", "developerEmail", "developerWebsite", "privacyPolicy", "genre",
             "genreId", "categories", "contentRating", "adSupported")
    return {name: ElementSpecs.Detail[name].extract_content(source) for name in names}


def _is_app_record(record) -> bool:
    return (isinstance(record, list) and len(record) > 69
            and isinstance(_dig(record, 0, 0), str) and isinstance(_dig(record, 68, 0), str))


def _declared_rows(rows) -> list[DeclaredData]:
    declared = []
    for row in rows or []:
        category = _dig(row, 0, 1)
        for entry in _dig(row, 4) or []:
            purposes = _dig(entry, 2)
            declared.append(DeclaredData(
                category=category if isinstance(category, str) else None,
                data_type=_dig(entry, 0) if isinstance(_dig(entry, 0), str) else None,
                purposes=_purposes(purposes) if isinstance(purposes, str) else [],
                optional=_dig(entry, 1) if isinstance(_dig(entry, 1), bool) else None,
            ))
    return declared


def _purposes(text: str) -> list[str]:
    """The known purposes named in a purposes line, in the order the developer gave them."""
    folded = text.casefold()
    found = sorted((folded.find(p.casefold()), p) for p in PURPOSES if p.casefold() in folded)
    return [p for _, p in found] or [text]


def _practice(practices: list, positive: str, negative: str) -> bool | None:
    folded = {p.replace("'", "’").casefold() for p in practices}
    if positive.casefold() in folded:
        return True
    if negative.casefold() in folded:
        return False
    return None


def _labels(record: list):
    """Every short string of the record outside the developer's free text."""
    for index, value in enumerate(record):
        if index not in FREE_TEXT_INDEXES:
            yield from (s.strip() for s in _strings(value) if len(s) <= 60)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _dig(value, *path):
    for index in path:
        if not isinstance(value, list) or not -len(value) <= index < len(value):
            return None
        value = value[index]
    return value


def _block_number(key: str) -> int:
    digits = key.rpartition(":")[2]
    return int(digits) if digits.isdigit() else 10**6
