"""Hold the policy and the store page to what the pages and the app do: source = 'crosscheck'.

Web checks per target and scan (docs/trackers.md): a third-party entity the policy never names
or describes; ad or data-broker trackers where the policy denies sharing, selling or behavioural
ads; behavioural-ad trackers on a child-directed target; a child-directed target whose policy
says the service is not directed to children. Evidence quotes the request URL and the sentence.
App checks (docs/apps.md): the same undisclosed and denial checks for the SDKs inside the APK,
store declarations ("no data shared", no ads) contradicted by an ad SDK, and a child-directed app
asking for the advertising ID. Evidence quotes the SDK's class and the sentence or declaration.

Longer than 500 lines because the web and app checks share the disclosure and denial logic
(names_for, is_disclosed, policy_denials); the app checks are the section marked apps.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from dataclasses import dataclass

from scanner.findings import finding_row, one_line
from scanner.trackers import TrackerList, domain_label

# How a policy describes a kind of third party without naming the company.
CATEGORY_DESCRIPTIONS = {
    "advertising": r"\badverti[sz]|\bad(vertising)? (networks?|partners?|servers?|serving|tech|providers?)\b|\bads\b|\bmarketing partners?\b|\bretarget",
    "analytics": r"\banalytic|\bmeasurement\b|\baudience measurement|\bstatistic|\busage data\b",
    "social": r"\bsocial (media|network|plugin|sharing|widget|button)s?\b|\bshare buttons?\b|\blike buttons?\b",
    "session_replay": r"\bsession (replay|recording)s?\b|\brecord(s|ing)? (of )?(your |user )?(sessions?|interactions?|mouse|clicks)|\bheat ?maps?\b",
    "fingerprinting": r"\bfingerprint|\bdevice (recognition|identification)\b|\bfraud (prevention|detection)\b",
    "data_broker": r"\bdata brokers?\b|\bdata (partners?|providers?|suppliers?|aggregators?)\b",
    "tag_manager": r"\btag manage|\banalytic",
    "attribution": r"\battribution\b|\bmobile measurement\b|\binstall(ation)? tracking\b|\bdeep link",
    "consent": r"\bconsent (management|manager|platform)|\bcookie (banner|consent|preferences|settings)\b",
    "content": r"\bembedded content\b|\bthird[- ]party (content|services?|providers?)\b|\bvideos?\b|\bfonts?\b|\bcaptcha\b|\bpayments?\b|\bsupport\b",
    "location": r"\blocation\b|\bgeolocation\b",
    "profiling": r"\bprofil(e|ing)\b",
    "crash_reporting": r"\bcrash(es)?\b|\berror (reports?|reporting|logs?)\b|\bdiagnostics?\b",
    "identification": r"\bdevice identifiers?\b|\badvertising (id|identifier)s?\b|\bidentity (verification|resolution)\b",
}
GENERIC_DESCRIPTION = r"\bthird[- ]party (services?|providers?|partners?)\b|\bservice providers?\b"
# The same descriptions in Thai policies (no word boundaries in Thai script).
THAI_DESCRIPTIONS = {
    "advertising": "โฆษณา",
    "analytics": "วิเคราะห์|สถิติ",
    "tag_manager": "วิเคราะห์|สถิติ",
    "social": "สื่อสังคม|โซเชียล|เครือข่ายสังคม",
    "data_broker": "นายหน้าข้อมูล|ผู้ค้าข้อมูล",
    "consent": "ความยินยอม.{0,20}คุกกี้|คุกกี้.{0,20}ความยินยอม",
    "location": "ตำแหน่ง",
}
THAI_GENERIC = "บุคคลภายนอก|บุคคลที่สาม|ผู้ให้บริการภายนอก"
for _category, _thai in THAI_DESCRIPTIONS.items():
    CATEGORY_DESCRIPTIONS[_category] += "|" + _thai
GENERIC_DESCRIPTION += "|" + THAI_GENERIC

# Which denials an ad or data-broker tracker contradicts.
DENIALS_CONTRADICTED = {
    "sale": ("advertising", "data_broker"),
    "third_party_sharing": ("advertising", "data_broker"),
    "behavioral_ads": ("advertising", "data_broker"),
}
# Protective findings of those categories that deny nothing: how to opt out, "ads are contextual".
NOT_A_DENIAL = re.compile(r"opt-out|contextual")
# A denial of ads altogether ("we do not show ads", "ad-free"), which even a kid-safe ad network
# contradicts, unless the sentence only denies targeted ads.
ALL_ADS_DENIALS = re.compile(r"^behavioral_ads\.ad-serving\.denied$|no-ads")
TARGETED_ADS = re.compile(
    r"\b(targeted|personali[sz]ed|interest[- ]based|behaviou?ral|tailored|profil)"
    r"|ตรงกับความสนใจ|ตามความสนใจ|เฉพาะบุคคล", re.I)
AD_ID_PERMISSION = "com.google.android.gms.permission.AD_ID"
# The cross-checks that hold an app (its SDKs, its store page) to what is said: reports group them.
APP_CROSSCHECK_RULES = (
    "crosscheck.undisclosed-sdk", "crosscheck.sdk-denial-contradicted",
    "crosscheck.store-no-data-shared-contradicted", "crosscheck.store-no-ads-contradicted",
    "crosscheck.child-app-advertising-id",
)


@dataclass
class Party:
    """One third-party entity as seen on a target's pages in one scan."""

    entity: str
    category: str
    is_data_broker: bool
    child_directed_adtech: bool
    request_url: str
    page_url: str
    domains: set
    aliases: tuple = ()  # more names than the entity's: an SDK's own name and its signature's

    @property
    def kind(self) -> str | None:
        """'data_broker', 'advertising' or None: what a denial or a child audience is held against."""
        if self.is_data_broker or self.category == "data_broker":
            return "data_broker"
        if self.category == "advertising":
            return "advertising"
        return None

    # The cross-check a denial of the policy raises when this party contradicts it.
    denial_rule = "crosscheck.denial-contradicted"

    def broker_note(self) -> str:
        return ", data broker" if self.is_data_broker and self.category != "data_broker" else ""

    def describe(self) -> str:
        return f"{self.entity} ({self.category}{self.broker_note()})"

    def observed(self) -> str:
        """Where the party was seen, as the evidence says it."""
        return f"{self.page_url} loads {self.describe()}: {self.request_url}"


@dataclass
class SdkParty(Party):
    """One SDK inside a target's APK: request_url holds the proving class, page_url the APK."""

    sdk: str = ""
    evidence_kind: str = "class"
    app: str = ""  # package and version, as the evidence names the app

    denial_rule = "crosscheck.sdk-denial-contradicted"

    def proof(self) -> str:
        """'Google AdMob (Google, advertising), class com.google.android.gms.ads.AdView'."""
        kind = "class" if self.evidence_kind == "class" else "referenced type"
        return (f"{self.sdk} ({self.entity}, {self.category}{self.broker_note()}), "
                f"{kind} {self.request_url}")

    def observed(self) -> str:
        return f"{self.app} carries {self.proof()}"


@dataclass
class PolicyFinding:
    rule_id: str
    category: str
    polarity: str
    evidence: str
    document_id: int | None
    start: int | None
    end: int | None
    url: str | None


POLICY_FIELDS = ("rule_id", "category", "polarity", "evidence", "document_id", "start", "end",
                 "url")


def crosscheck_findings(db, scan_id: int, target, trackers: TrackerList,
                        sdk_aliases: dict | None = None, findings: list[dict] | None = None
                        ) -> list[dict]:
    """The cross-check findings rows of one target in one scan, from its stored rows.

    sdk_aliases: {sdk_id: names} from the SDK signatures (sdk_aliases_by_id); the curated rules
    when None. findings: the target's findings rows in id order (with source, the POLICY_FIELDS
    and url), when already read.
    """
    parties = third_party_entities(db, scan_id, target.id, trackers)
    policies = policy_documents(db, scan_id, target.id)
    if findings is None:
        policy_findings = [PolicyFinding(*row) for row in db.execute(
            f"""SELECT {', '.join(f'[{c}]' for c in POLICY_FIELDS)} FROM findings
                WHERE scan_id = ? AND target_id = ? AND source = 'policy' ORDER BY id""",
            [scan_id, target.id],
        ).fetchall()]
    else:
        fields = operator.itemgetter(*POLICY_FIELDS)
        policy_findings = [PolicyFinding(*fields(f)) for f in findings if f["source"] == "policy"]
    # The policy's text without its denials, and the denials: once for the web and app checks
    # (each from the denials alone, which is what both keep of the findings).
    denied = [f for f in policy_findings if is_denial(f)]
    said = {"described": without_denials(policies, denied) if policies else "",
            "denials": policy_denials(denied)}
    rows = []
    rows += undisclosed_parties(scan_id, target, parties, policies, trackers, policy_findings,
                                said["described"])
    rows += contradicted_denials(scan_id, target, parties, policy_findings, said["denials"])
    if target.child_directed:
        rows += child_directed_ad_trackers(scan_id, target, parties)
        rows += child_directed_disclaimers(scan_id, target, policy_findings)
    rows += app_crosscheck_findings(db, scan_id, target, trackers, policies, policy_findings,
                                    sdk_aliases, said)
    return rows


def third_party_entities(db, scan_id: int, target_id: str, trackers) -> list[Party]:
    """Known tracker entities (not CDNs) a target's pages pulled in, first request of each."""
    parties: dict[str, Party] = {}
    for entity, category, broker, request_url, page_url, domain in db.execute(
        """SELECT entity, category, is_data_broker, request_url, page_url, domain
           FROM third_parties WHERE scan_id = ? AND target_id = ? AND category IS NOT NULL
             AND category != 'cdn' ORDER BY id""",
        [scan_id, target_id],
    ).fetchall():
        name = entity or domain
        party = parties.get(name)
        if party is None:
            known = trackers.entities.get(name)
            kid_safe = bool(known and known.child_directed_adtech)
            party = parties[name] = Party(name, category, bool(broker), kid_safe, request_url,
                                          page_url, set())
        elif _rank(category, broker) > _rank(party.category, party.is_data_broker):
            # Keep the strongest evidence for the entity: its ad or data-broker request.
            party.category, party.is_data_broker = category, bool(broker)
            party.request_url, party.page_url = request_url, page_url
        party.domains.add(domain)
    return list(parties.values())


def _rank(category: str, broker) -> int:
    return 2 if broker or category == "data_broker" else (1 if category == "advertising" else 0)


def policy_documents(db, scan_id: int, target_id: str) -> list[tuple[int, str, str]]:
    """(document id, url, text) of every policy fetched for the target in this scan."""
    return db.execute(
        """SELECT DISTINCT d.id, COALESCE(f.final_url, f.url), d.text FROM fetches f
           JOIN documents d ON d.id = f.document_id
           WHERE f.scan_id = ? AND f.target_id = ? AND f.kind = 'policy'""",
        [scan_id, target_id],
    ).fetchall()


def names_for(party: Party, trackers) -> list[str]:
    """Every way a policy could name the entity: its name, aliases, domains and their labels."""
    known = trackers.entities.get(party.entity)
    names = [party.entity, *(known.aliases if known else ()), *party.aliases]
    # "Google LLC" is named by "Google"; "Meta Platforms, Inc." by "Meta Platforms".
    names += [CORPORATE_SUFFIX.sub("", party.entity).strip(" ,")]
    for domain in party.domains:
        names.append(domain)
        label = domain_label(domain)
        if len(label) >= 5:  # 'app' (app.link) or 'near' would be found in any policy
            names.append(label)
    return [n for n in dict.fromkeys(names) if n and len(n) >= 3]


CORPORATE_SUFFIX = re.compile(
    r"[, ]+(LLC|L\.L\.C\.|Inc\.?|Ltd\.?|Limited|Corp\.?|Corporation|GmbH|S\.A\.|SA|AG|plc|Co\.?|B\.V\.)$", re.I)


def _mentions(text: str, names: list[str]) -> bool:
    """True when the text names any of names as a whole word (any case)."""
    if not names:
        return False
    if all(map(str.isascii, names)) and not ASCII_FOLDS.search(text):
        lowered = text.lower()
        if not any(name.lower() in lowered for name in names):
            return False  # no name occurs in any case: the search could not match
    return _names_pattern(tuple(names)).search(text) is not None


# The characters that match an ASCII letter case-insensitively without being ASCII (İ ı ſ K):
# in a text without them, re.I finds an ASCII name only where the text's str.lower() has it.
ASCII_FOLDS = re.compile("[\u0130\u0131\u017f\u212a]")


@functools.lru_cache(maxsize=1024)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern:
    """One search for all of a party's names (each was its own search over the whole policy, 80
    of them for a party with many domains): the alternation matches where any name does."""
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(name) for name in names)
                      + r")(?![\w-])", re.I)


def is_disclosed(party: Party, text: str, trackers, described: str | None = None) -> bool:
    """True when the policy text names the party or describes its kind of partner.

    described: the text searched for descriptions (the policy without its denials), else text.
    """
    if _mentions(text, names_for(party, trackers)):
        return True
    description = CATEGORY_DESCRIPTIONS.get(party.category, GENERIC_DESCRIPTION)
    if party.is_data_broker:
        description = CATEGORY_DESCRIPTIONS["data_broker"]
    return bool(re.search(description, text if described is None else described, re.I))


def without_denials(policies, policy_findings) -> str:
    """The policies' text with each denial blanked: "we do not show ads" describes no ad partner."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for f in policy_findings:
        if f.start is not None and f.end is not None and is_denial(f):
            spans.setdefault(f.document_id, []).append((f.start, f.end))
    texts = []
    for document_id, _, text in policies:
        for start, end in spans.get(document_id, ()):
            text = text[:start] + " " * (end - start) + text[end:]
        texts.append(text)
    return "\n".join(texts)


def undisclosed_severity(party: Party) -> str:
    return "high" if party.kind else ("low" if party.category == "content" else "medium")


def undisclosed_parties(scan_id, target, parties, policies, trackers,
                        policy_findings=(), described: str | None = None) -> list[dict]:
    """described: without_denials(policies, policy_findings), when already made."""
    if not policies or not parties:
        return []  # no policy at all is its own finding (scoring: policy.missing)
    text = "\n".join(t for _, _, t in policies)
    if described is None:
        described = without_denials(policies, policy_findings)
    policy_url = policies[0][1]
    rows = []
    for party in parties:
        if is_disclosed(party, text, trackers, described):
            continue
        severity = undisclosed_severity(party)
        rows.append(_finding(
            scan_id, target.id, "crosscheck.undisclosed-third-party", "third_party_sharing",
            severity,
            f"{party.page_url} sends requests to {party.describe()}: {party.request_url}; the "
            f"privacy policy ({policy_url}) neither names {party.entity} nor describes "
            f"{party.category.replace('_', ' ')} partners.",
            party.page_url,
        ))
    return rows


def denial_category(finding: PolicyFinding) -> str:
    return _denial_category(finding.rule_id, finding.category)


def _denial_category(rule_id: str, category: str) -> str:
    # "Children never see ads" is filed under children by some rules: it denies ads all the same.
    return "behavioral_ads" if "no-ads" in rule_id else category


def is_denial(finding: PolicyFinding) -> bool:
    """A denied risk ('.denied'), or a protective rule that denies selling, sharing or ads."""
    return _denies(finding.rule_id, finding.polarity, finding.category)


@functools.lru_cache(maxsize=4096)
def _denies(rule_id: str, polarity: str, category: str) -> bool:
    """is_denial of the fields it reads (a target's policy findings repeat a few dozen rules)."""
    if rule_id.endswith(".denied"):
        return True
    return (polarity == "protective" and _denial_category(rule_id, category) in DENIALS_CONTRADICTED
            and not NOT_A_DENIAL.search(rule_id))


def policy_denials(policy_findings) -> dict[str, list[PolicyFinding]]:
    """The policy's denials of selling, sharing or ads, by category, in policy order."""
    denials: dict[str, list[PolicyFinding]] = {}
    for finding in policy_findings:
        category = denial_category(finding)
        if category in DENIALS_CONTRADICTED and is_denial(finding):
            denials.setdefault(category, []).append(finding)
    return denials


def denies_all_ads(denial: PolicyFinding) -> bool:
    return bool(ALL_ADS_DENIALS.search(denial.rule_id)) and not TARGETED_ADS.search(denial.evidence or "")


def contradicting_denials(party: Party, denials: dict) -> list[tuple[str, PolicyFinding]]:
    """(category, the first denial of it) for each denial category the party contradicts.

    A sentence read as a denial of two categories ("we never sell" is a sale and a sharing
    denial) is held against the party once.
    """
    found, quoted = [], set()
    for category, candidates in denials.items():
        if party.kind not in DENIALS_CONTRADICTED[category]:
            continue
        if category == "behavioral_ads" and party.child_directed_adtech and not party.is_data_broker:
            # A kid-safe network's contextual ads are not behavioural ads, but they are ads.
            candidates = [d for d in candidates if denies_all_ads(d)]
        candidates = [d for d in candidates if (d.document_id, d.start, d.end) not in quoted]
        if candidates:
            found.append((category, candidates[0]))
            quoted.add((candidates[0].document_id, candidates[0].start, candidates[0].end))
    return found


def contradicted_denials(scan_id, target, parties, policy_findings,
                         denials: dict | None = None) -> list[dict]:
    """Denials of the policy that a tracker on its pages, or an SDK in its app, contradicts.
    denials: policy_denials(policy_findings), when already made."""
    if not parties:
        return []
    if denials is None:
        denials = policy_denials(policy_findings)
    rows = []
    for party in parties:
        for category, denial in contradicting_denials(party, denials):
            rows.append(_finding(
                scan_id, target.id, party.denial_rule, category, "high",
                f'The policy ({denial.url}) says: "{_clip(denial.evidence)}" ({denial.rule_id}), '
                f"but {party.observed()}",
                party.page_url, document_id=denial.document_id, start=denial.start, end=denial.end,
            ))
    return rows


def child_directed_ad_trackers(scan_id, target, parties) -> list[dict]:
    rows = []
    for party in parties:
        if party.kind is None or (party.child_directed_adtech and not party.is_data_broker):
            continue
        rows.append(_finding(
            scan_id, target.id, "crosscheck.child-directed-ad-tracker",
            "sale" if party.kind == "data_broker" else "behavioral_ads", "critical",
            f"{target.name} is child-directed and {party.page_url} loads "
            f"{party.describe()}: {party.request_url}",
            party.page_url,
        ))
    return rows


def child_directed_disclaimers(scan_id, target, policy_findings) -> list[dict]:
    for f in policy_findings:
        if f.rule_id == "children.not-directed":
            return [_finding(
                scan_id, target.id, "crosscheck.child-directed-disclaimer", "children", "high",
                f'{target.name} is registered as child-directed but its policy ({f.url}) says: '
                f'"{_clip(f.evidence)}"',
                f.url, document_id=f.document_id, start=f.start, end=f.end,
            )]
    return []


# --------------------------------------------------------------------------- apps


def sdk_aliases_by_id(signatures) -> dict[str, tuple[str, ...]]:
    """{sdk id: (name, *aliases)} of SDK signatures: the names a policy could give each SDK."""
    return {s.id: (s.name, *s.aliases) for s in signatures}


@functools.cache
def curated_sdk_aliases() -> dict[str, tuple[str, ...]]:
    """The curated SDK rules' names, read once and only when a target has SDKs to name."""
    from scanner.apps import load_sdk_rules

    return sdk_aliases_by_id(load_sdk_rules())


def app_sdk_parties(db, scan_id: int, target_id: str, trackers, sdk_aliases: dict) -> list[SdkParty]:
    """The SDKs of a target's APK in this scan, one party per SDK with its proving class."""
    parties: dict[tuple, SdkParty] = {}
    for row in db.query(
        """SELECT s.sdk, s.sdk_id, s.entity, s.category, s.child_directed_adtech, s.evidence,
                  s.evidence_kind, a.package, a.version_name,
                  COALESCE(a.source, s.app_sha256) AS source
           FROM app_sdks s LEFT JOIN apps a ON a.sha256 = s.app_sha256
           WHERE s.scan_id = ? AND s.target_id = ? ORDER BY s.rowid""",
        [scan_id, target_id],
    ):
        key = (row["sdk"], row["entity"])
        if key in parties:
            continue
        entity = row["entity"] or row["sdk"]
        known = trackers.entities.get(entity)
        parties[key] = SdkParty(
            entity=entity, category=row["category"] or "unclassified",
            is_data_broker=row["category"] == "data_broker" or bool(known and known.is_data_broker),
            child_directed_adtech=bool(row["child_directed_adtech"]),
            request_url=row["evidence"], page_url=row["source"], domains=set(),
            aliases=(row["sdk"], *sdk_aliases.get(row["sdk_id"], ())),
            sdk=row["sdk"], evidence_kind=row["evidence_kind"] or "class",
            app=" ".join(x for x in (row["package"], row["version_name"]) if x) or "the app",
        )
    return list(parties.values())


def latest_store_listing(db, scan_id: int, target_id: str) -> dict | None:
    """The store listing read for the target in this scan; None when none could be read."""
    rows = list(db.query(
        """SELECT * FROM store_listings WHERE scan_id = ? AND target_id = ? AND error IS NULL
           ORDER BY rowid DESC LIMIT 1""", [scan_id, target_id]))
    return rows[0] if rows else None


def app_permission_rows(db, scan_id: int, target_id: str) -> list[dict]:
    return list(db.query(
        """SELECT p.permission, a.package, a.version_name, COALESCE(a.source, p.app_sha256) AS source
           FROM app_permissions p LEFT JOIN apps a ON a.sha256 = p.app_sha256
           WHERE p.scan_id = ? AND p.target_id = ? ORDER BY p.rowid""", [scan_id, target_id]))


def app_crosscheck_findings(db, scan_id, target, trackers, policies, policy_findings,
                            sdk_aliases=None, said: dict | None = None) -> list[dict]:
    """The app's cross-checks: SDKs against the policy and the store page; the advertising ID.
    said: {"described", "denials"} of the policy when the web checks made them."""
    said = said or {}
    has_sdks = db.execute("SELECT 1 FROM app_sdks WHERE scan_id = ? AND target_id = ? LIMIT 1",
                          [scan_id, target.id]).fetchone()
    sdks = []
    if has_sdks:
        aliases = curated_sdk_aliases() if sdk_aliases is None else sdk_aliases
        sdks = app_sdk_parties(db, scan_id, target.id, trackers, aliases)
    listing = latest_store_listing(db, scan_id, target.id)
    rows = []
    rows += undisclosed_sdks(scan_id, target, sdks, policies, trackers, policy_findings,
                             said.get("described"))
    rows += contradicted_denials(scan_id, target, sdks, policy_findings, said.get("denials"))
    rows += store_declarations_contradicted(scan_id, target, sdks, listing)
    rows += child_app_advertising_id(scan_id, target, sdks, listing,
                                     app_permission_rows(db, scan_id, target.id))
    return rows


def undisclosed_sdks(scan_id, target, sdks, policies, trackers, policy_findings=(),
                     described: str | None = None) -> list[dict]:
    if not policies or not sdks:
        return []
    text = "\n".join(t for _, _, t in policies)
    if described is None:
        described = without_denials(policies, policy_findings)
    policy_url = policies[0][1]
    return [_finding(
        scan_id, target.id, "crosscheck.undisclosed-sdk", "third_party_sharing",
        undisclosed_severity(sdk),
        f"{sdk.app} carries {sdk.proof()}; the privacy policy ({policy_url}) neither names "
        f"{sdk.entity} or {sdk.sdk} nor describes {sdk.category.replace('_', ' ')} partners.",
        sdk.page_url,
    ) for sdk in sdks if not is_disclosed(sdk, text, trackers, described)]


def store_declarations_contradicted(scan_id, target, sdks, listing) -> list[dict]:
    """'No data shared' or no 'Contains ads' on the store page, while an ad SDK is inside."""
    if listing is None:
        return []
    url = listing.get("final_url") or listing.get("url")
    rows = []
    for sdk in sdks:
        if listing.get("no_data_shared") == 1 and sdk.kind:
            rows.append(_finding(
                scan_id, target.id, "crosscheck.store-no-data-shared-contradicted",
                "third_party_sharing", "high",
                f'The store page ({url}) declares "No data shared with third parties", but '
                f"{sdk.app} carries {sdk.proof()}, which receives data from the app",
                url,
            ))
        if listing.get("contains_ads") == 0 and sdk.category == "advertising":
            rows.append(_finding(
                scan_id, target.id, "crosscheck.store-no-ads-contradicted", "behavioral_ads",
                "high",
                f'The store page ({url}) does not declare "Contains ads", but {sdk.app} carries '
                f"{sdk.proof()}",
                url,
            ))
    return rows


def child_age_bands(bands) -> list[str]:
    """The store's age bands that include children under 13 ('Ages 5 & Under', 'Ages 6-8')."""
    found = []
    for band in bands:
        numbers = [int(n) for n in re.findall(r"\d+", str(band))]
        if numbers and (numbers[0] < 13 or re.search(r"under", str(band), re.I)):
            found.append(str(band))
    return found


def child_audience_reasons(target, listing) -> list[str]:
    """Why the app is for children: its registration, or what its own store page shows."""
    reasons = ["registered as child-directed"] if target.child_directed else []
    if listing:
        try:
            bands = json.loads(listing.get("target_ages") or "[]")
        except ValueError:
            bands = []
        ages = child_age_bands(bands if isinstance(bands, list) else [])
        if ages:
            reasons.append("store page target ages " + ", ".join(ages))
        if listing.get("designed_for_families"):
            reasons.append("store page: Designed for Families")
        if listing.get("teacher_approved"):
            reasons.append("store page: Teacher Approved")
    return reasons


def child_app_advertising_id(scan_id, target, sdks, listing, permissions) -> list[dict]:
    """A child-directed app that asks for the advertising ID (AD_ID permission).

    Critical when a behavioural ad or data-broker SDK is there to receive the ID, high otherwise.
    """
    asking = next((p for p in permissions if p["permission"] == AD_ID_PERMISSION), None)
    reasons = child_audience_reasons(target, listing)
    if asking is None or not reasons:
        return []
    app = " ".join(x for x in (asking["package"], asking["version_name"]) if x) or "the app"
    evidence = (f"{app} is for children ({'; '.join(reasons)}) and its manifest asks for "
                f"{AD_ID_PERMISSION} (<uses-permission>): the advertising ID, a persistent "
                f"identifier that Google Play's Families policy bars child-directed apps from "
                f"transmitting and that COPPA allows for behavioural ads only with verifiable "
                f"parental consent.")
    receivers = [sdk for sdk in sdks
                 if sdk.kind and not (sdk.child_directed_adtech and not sdk.is_data_broker)]
    if receivers:
        severity = "critical"
        evidence += (" Critical: it also carries " + "; ".join(sdk.proof() for sdk in receivers)
                     + ", which can use the ID for behavioural ads or profiling.")
    else:
        severity = "high"
        evidence += (" High, not critical: no behavioural ad or data-broker SDK was found to "
                     "receive it.")
    return [_finding(scan_id, target.id, "crosscheck.child-app-advertising-id", "tracking",
                     severity, evidence, asking["source"], data_types=["identifiers"])]


def _clip(text: str) -> str:
    return one_line(text, 300)


def _finding(scan_id, target_id, rule_id, category, severity, evidence, url, *,
             document_id=None, start=None, end=None, data_types=()) -> dict:
    return finding_row(
        scan_id, target_id, source="crosscheck", rule_id=rule_id, category=category,
        practice=rule_id.split(".", 1)[1], severity=severity, polarity="risk", evidence=evidence,
        url=url, document_id=document_id, start=start, end=end, data_types=data_types,
    )
