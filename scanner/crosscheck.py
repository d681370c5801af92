"""Hold the policy to what the pages do: findings with source = 'crosscheck'.

Four checks per target and scan (docs/trackers.md): a third-party entity the policy never names
or describes; ad or data-broker trackers where the policy denies sharing, selling or behavioural
ads; behavioural-ad trackers on a child-directed target; a child-directed target whose policy
says the service is not directed to children. Evidence quotes the request URL and the sentence.
"""

from __future__ import annotations

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

    @property
    def kind(self) -> str | None:
        """'data_broker', 'advertising' or None: what a denial or a child audience is held against."""
        if self.is_data_broker or self.category == "data_broker":
            return "data_broker"
        if self.category == "advertising":
            return "advertising"
        return None

    def describe(self) -> str:
        extra = ", data broker" if self.is_data_broker and self.category != "data_broker" else ""
        return f"{self.entity} ({self.category}{extra})"


def crosscheck_findings(db, scan_id: int, target, trackers: TrackerList) -> list[dict]:
    """The cross-check findings rows of one target in one scan, from its stored rows."""
    parties = third_party_entities(db, scan_id, target.id, trackers)
    policies = policy_documents(db, scan_id, target.id)
    policy_findings = db.execute(
        """SELECT rule_id, category, evidence, document_id, start, "end", url FROM findings
           WHERE scan_id = ? AND target_id = ? AND source = 'policy' ORDER BY id""",
        [scan_id, target.id],
    ).fetchall()
    rows = []
    rows += undisclosed_parties(scan_id, target, parties, policies, trackers)
    rows += contradicted_denials(scan_id, target, parties, policy_findings)
    if target.child_directed:
        rows += child_directed_ad_trackers(scan_id, target, parties)
        rows += child_directed_disclaimers(scan_id, target, policy_findings)
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
    names = [party.entity, *(known.aliases if known else ())]
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


def _mentions(text: str, names: list[str]) -> str | None:
    for name in names:
        if re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text, re.I):
            return name
    return None


def undisclosed_parties(scan_id, target, parties, policies, trackers) -> list[dict]:
    if not policies:
        return []  # no policy at all is its own finding (scoring: policy.missing)
    text = "\n".join(t for _, _, t in policies)
    policy_url = policies[0][1]
    rows = []
    for party in parties:
        if _mentions(text, names_for(party, trackers)):
            continue
        description = CATEGORY_DESCRIPTIONS.get(party.category, GENERIC_DESCRIPTION)
        if party.is_data_broker:
            description = CATEGORY_DESCRIPTIONS["data_broker"]
        if re.search(description, text, re.I):
            continue
        severity = "high" if party.kind else ("low" if party.category == "content" else "medium")
        rows.append(_finding(
            scan_id, target.id, "crosscheck.undisclosed-third-party", "third_party_sharing",
            severity,
            f"{party.page_url} sends requests to {party.describe()}: {party.request_url}; the "
            f"privacy policy ({policy_url}) neither names {party.entity} nor describes "
            f"{party.category.replace('_', ' ')} partners.",
            party.page_url,
        ))
    return rows


def contradicted_denials(scan_id, target, parties, policy_findings) -> list[dict]:
    denials = {}
    for rule_id, category, evidence, document_id, start, end, url in policy_findings:
        if rule_id.endswith(".denied") and category in DENIALS_CONTRADICTED:
            denials.setdefault(category, (rule_id, evidence, document_id, start, end, url))
    rows = []
    for party in parties:
        for category, (rule_id, sentence, document_id, start, end, url) in denials.items():
            if party.kind not in DENIALS_CONTRADICTED[category]:
                continue
            if category == "behavioral_ads" and party.child_directed_adtech and not party.is_data_broker:
                continue  # a kid-safe network's contextual ads are not behavioural ads
            rows.append(_finding(
                scan_id, target.id, "crosscheck.denial-contradicted", category, "high",
                f'The policy ({url}) says: "{_clip(sentence)}" ({rule_id}), but {party.page_url} '
                f"loads {party.describe()}: {party.request_url}",
                party.page_url, document_id=document_id, start=start, end=end,
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
    for rule_id, _category, evidence, document_id, start, end, url in policy_findings:
        if rule_id == "children.not-directed":
            return [_finding(
                scan_id, target.id, "crosscheck.child-directed-disclaimer", "children", "high",
                f'{target.name} is registered as child-directed but its policy ({url}) says: '
                f'"{_clip(evidence)}"',
                url, document_id=document_id, start=start, end=end,
            )]
    return []


def _clip(text: str) -> str:
    return one_line(text, 300)


def _finding(scan_id, target_id, rule_id, category, severity, evidence, url, *,
             document_id=None, start=None, end=None) -> dict:
    return finding_row(
        scan_id, target_id, source="crosscheck", rule_id=rule_id, category=category,
        practice=rule_id.split(".", 1)[1], severity=severity, polarity="risk", evidence=evidence,
        url=url, document_id=document_id, start=start, end=end,
    )
