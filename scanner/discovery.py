"""Find a site's privacy-policy links: anchor text and URL, English and Thai."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from parsel import Selector

ANCHOR_TERMS = [
    (re.compile(r"children'?s privacy|kids'? privacy|privacy policy|privacy notice|privacy", re.I), 10),
    (re.compile(r"นโยบายความเป็นส่วนตัว|นโยบายคุ้มครองข้อมูลส่วนบุคคล|ความเป็นส่วนตัว"), 10),
    (re.compile(r"cookie policy|cookies", re.I), 3),
]
URL_TERMS = [(re.compile(r"privacy|datenschutz|pdpa", re.I), 5), (re.compile(r"cookie", re.I), 2)]
COMMON_POLICY_PATHS = ("/privacy", "/privacy-policy", "/privacy.html", "/legal/privacy")


@dataclass(frozen=True)
class PolicyLink:
    url: str
    score: int
    text: str


def discover_policy_links(html: str, base_url: str) -> list[PolicyLink]:
    """Candidate policy links on a page, best first."""
    sel = Selector(text=html)
    found: dict[str, PolicyLink] = {}
    for anchor in sel.css("a[href], link[rel~='privacy-policy'][href]"):
        href = anchor.attrib.get("href", "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        url = urljoin(base_url, href).split("#")[0]
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        text = " ".join(anchor.css("::text").getall()).strip()
        score = 20 if anchor.root.tag == "link" else 0
        score += max((w for rx, w in ANCHOR_TERMS if rx.search(text)), default=0)
        score += max((w for rx, w in URL_TERMS if rx.search(urlsplit(url).path)), default=0)
        if score and (url not in found or found[url].score < score):
            found[url] = PolicyLink(url, score, text)
    return sorted(found.values(), key=lambda link: -link.score)
