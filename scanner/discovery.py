"""Find a site's privacy-policy pages: links by anchor text and URL, English and Thai.

Two questions, both answered from a page's HTML without fetching anything:
- on a homepage, which links lead to the privacy policy (and its children's and cookie notices)?
- on a policy page, which links continue the same policy (next page, next section, sub-notices)?
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

from parsel import Selector

from scanner.trackers import registrable_domain

# Anchor text -> weight. Children's notices weigh most: they are what a regulator asks for.
ANCHOR_TERMS = [
    (re.compile(r"\b(children'?s?|child|kids'?|kid|parents'?|student|coppa)\b.{0,30}"
                r"(privacy|data|information)|(privacy|data).{0,20}\b(children|kids|students)\b",
                re.I), 13),
    (re.compile(r"privacy\s*(policy|notice|statement|center|centre|hub|&|and)|"
                r"data\s*(protection|privacy)\s*(policy|notice|statement)?|"
                r"(personal\s*(data|information)|pdpa)\s*(protection\s*)?(policy|notice)", re.I), 10),
    (re.compile(r"นโยบาย\s*(การ)?\s*คุ้มครอง\s*ข้อมูล|นโยบาย\s*ความ\s*เป็น\s*ส่วน\s*ตัว|"
                r"ประกาศ\s*(เกี่ยวกับ)?\s*ความ\s*เป็น\s*ส่วน\s*ตัว|นโยบาย\s*(การ)?\s*(ใช้|เก็บ)?\s*ข้อมูล\s*ส่วน\s*บุคคล|"
                r"การ\s*คุ้มครอง\s*ข้อมูล\s*ส่วน\s*บุคคล"), 10),
    (re.compile(r"\bprivacy\b|datenschutz|privacidad|confidentialit|privacidade|riservatezza|"
                r"プライバシー|隐私|隱私|개인정보|\bpdpa\b", re.I), 7),
    (re.compile(r"ความ\s*เป็น\s*ส่วน\s*ตัว|ข้อมูล\s*ส่วน\s*บุคคล"), 7),
    (re.compile(r"cookie\s*(policy|notice|statement)|about\s*cookies|use\s*of\s*cookies|"
                r"นโยบาย\s*(การ\s*ใช้)?\s*คุกกี้", re.I), 4),
]
# Privacy *controls*, not the policy: opt-out forms, consent managers, account settings.
NOT_A_POLICY = re.compile(
    r"settings|preferences|choices|manage|do\s*not\s*sell|don'?t\s*sell|opt[\s-]*out|"
    r"your\s*privacy\s*rights\s*request|request\s*form|ตั้งค่า|จัดการ", re.I
)
URL_TERMS = [
    (re.compile(r"child|kids|coppa|student", re.I), 1),
    (re.compile(r"privacy|privacidad|datenschutz|confidentialit|pdpa|personal-?data|"
                r"data-?protection|ความเป็นส่วนตัว|คุ้มครองข้อมูล", re.I), 5),
    (re.compile(r"cookie", re.I), 2),
]
FOOTER_SELECTOR = ("footer, [role=contentinfo], [id*=footer i], [class*=footer i]")
MENU_SELECTOR = "nav, [role=navigation], [class*=menu i], [id*=menu i]"
# Minimum score of a link worth following: a cookie-policy anchor or a privacy URL.
MIN_POLICY_SCORE = 4

COMMON_POLICY_PATHS = (
    "/privacy", "/privacy-policy", "/privacy.html", "/privacy-policy.html", "/legal/privacy",
    "/policies/privacy", "/privacy-notice", "/pdpa", "/th/privacy-policy",
)

CONTINUE_TEXT = re.compile(
    r"continue\s*reading|read\s*(more|the\s*full|full)|full\s*(privacy\s*)?(policy|notice|text)|"
    r"^\s*next(\s*(page|section|part))?\s*[»›>→]*\s*$|^\s*[»›>→]+\s*$|(part|section|page)\s*\d+|"
    r"อ่าน\s*ต่อ|ถัด\s*ไป|หน้า\s*ถัด\s*ไป|ดู\s*เพิ่มเติม|อ่าน\s*เพิ่มเติม|ส่วน\s*ที่\s*\d+|หน้า\s*\d+",
    re.I,
)
PAGE_NUMBER_TEXT = re.compile(r"^\s*\d{1,2}\s*$")
PAGINATION_SELECTOR = ("[class*=pagination i], [class*=pager i], [class*=page-numbers i], "
                       "nav[aria-label*=page i], [class*=toc i], [id*=toc i]")
POLICY_PATH_HINT = re.compile(r"privacy|policy|policies|legal|pdpa|cookie|notice|datenschutz|"
                              r"ความเป็นส่วนตัว|นโยบาย", re.I)


@dataclass(frozen=True)
class PolicyLink:
    url: str
    score: int
    text: str
    how: str = "link"   # link-rel | footer-link | menu-link | link | continuation | policy-link


def _clean_url(href: str, base_url: str) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    url = urljoin(base_url, href).split("#")[0]
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return url


def _anchor_text(anchor) -> str:
    text = " ".join(t.strip() for t in anchor.css("::text").getall() if t.strip())
    for attr in ("title", "aria-label"):
        text = text or (anchor.attrib.get(attr) or "").strip()
    if not text:
        text = " ".join(anchor.css("img::attr(alt)").getall()).strip()
    return re.sub(r"\s+", " ", text)[:200]


def anchor_score(text: str) -> int:
    """How strongly a link's text names a privacy policy (0 when it names a privacy control)."""
    if not text or NOT_A_POLICY.search(text):
        return 0
    return max((w for rx, w in ANCHOR_TERMS if rx.search(text)), default=0)


def url_score(url: str) -> int:
    """How strongly a URL's path and query name a privacy or cookie policy."""
    parts = urlsplit(url)
    path = unquote(parts.path + "?" + parts.query)
    if NOT_A_POLICY.search(path):
        return 0
    weights = [w for rx, w in URL_TERMS if rx.search(path)]
    return sum(weights) if any(w > 1 for w in weights) else 0


class _Region:
    """The elements a CSS selector matched; holds them so lxml keeps one proxy per element."""

    def __init__(self, sel: Selector, css: str):
        self.elements = [node.root for node in sel.css(css)]
        self.ids = {id(element) for element in self.elements}

    def holds(self, node) -> bool:
        return any(id(ancestor) in self.ids for ancestor in node.root.iterancestors())


def discover_policy_links(html: str, base_url: str) -> list[PolicyLink]:
    """Candidate policy links on a page, best first: <link rel=privacy-policy>, then by score.

    Footer links get a small bonus: that is where sites put their policy.
    """
    sel = Selector(text=html or "<html></html>")
    footers, menus = _Region(sel, FOOTER_SELECTOR), _Region(sel, MENU_SELECTOR)
    found: dict[str, PolicyLink] = {}

    def keep(link: PolicyLink) -> None:
        if link.url not in found or found[link.url].score < link.score:
            found[link.url] = link

    for link in sel.css("link[href]"):
        rel = (link.attrib.get("rel") or "").lower().split()
        if "privacy-policy" in rel:
            url = _clean_url(link.attrib.get("href"), base_url)
            if url:
                keep(PolicyLink(url, 40, "<link rel=privacy-policy>", "link-rel"))
    for anchor in sel.css("a[href], area[href]"):
        url = _clean_url(anchor.attrib.get("href"), base_url)
        if not url:
            continue
        text = _anchor_text(anchor)
        if NOT_A_POLICY.search(text):
            continue
        score = anchor_score(text) + url_score(url)
        if "privacy-policy" in (anchor.attrib.get("rel") or "").lower().split():
            score += 30
        if score < MIN_POLICY_SCORE:
            continue
        how = "link"
        if footers.holds(anchor):
            score, how = score + 2, "footer-link"
        elif menus.holds(anchor):
            how = "menu-link"
        keep(PolicyLink(url, score, text, how))
    return sorted(found.values(), key=lambda link: (-link.score, link.url))


def site_key(url: str) -> str:
    """The registrable domain of a URL; host and port for an IP address (loopback sites)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    domain = registrable_domain(host)
    return parts.netloc.lower() if domain == host and re.fullmatch(r"[\d.:]+", host) else domain


def same_site(url: str, *others: str | None) -> bool:
    """Whether url belongs to the same site as any of the others."""
    key = site_key(url)
    return any(key == site_key(other) for other in others if other)


def _numbered_sibling(url: str, page_url: str) -> bool:
    """/privacy/part-2 beside /privacy/part-1, or ?page=2 beside the first page."""
    a, b = urlsplit(url), urlsplit(page_url)
    if a.netloc != b.netloc or url == page_url:
        return False
    if a.path == b.path and a.query != b.query:
        keys = {k for k, _ in parse_qsl(a.query)} | {k for k, _ in parse_qsl(b.query)}
        return bool(keys & {"page", "p", "part", "section", "pg", "start"})
    digits = re.compile(r"\d+")
    return bool(digits.search(a.path)) and digits.sub("N", a.path) == digits.sub("N", b.path) \
        and digits.search(b.path) is not None


def discover_continuation_links(html: str, page_url: str, homepage: str | None = None) -> list[PolicyLink]:
    """Links on a policy page that continue the policy: next pages and sections, sub-notices.

    Only links to the same site (the page's or the homepage's registrable domain): a policy
    that links to Google's or Meta's policy does not make theirs part of it.
    """
    sel = Selector(text=html or "<html></html>")
    paginations = _Region(sel, PAGINATION_SELECTOR)
    page_path = unquote(urlsplit(page_url).path).rstrip("/")
    found: dict[str, PolicyLink] = {}
    for link in sel.css("link[href], a[href]"):
        url = _clean_url(link.attrib.get("href"), page_url)
        if not url or url.split("#")[0] == page_url.split("#")[0]:
            continue
        if not same_site(url, page_url, homepage):
            continue
        rel = (link.attrib.get("rel") or "").lower().split()
        if link.root.tag == "link" and "next" not in rel:
            continue
        text = _anchor_text(link)
        path = unquote(urlsplit(url).path)
        score = 0
        if "next" in rel:
            score = 30
        elif CONTINUE_TEXT.search(text):
            score = 20
        elif PAGE_NUMBER_TEXT.match(text) and (paginations.holds(link) or _numbered_sibling(url, page_url)):
            score = 18
        elif _numbered_sibling(url, page_url):
            score = 15
        elif page_path and POLICY_PATH_HINT.search(page_path) and path.startswith(page_path + "/"):
            score = 12   # a sub-page of the policy: /privacy/children, /privacy/cookies
        how = "continuation"
        policy_score = 0 if NOT_A_POLICY.search(text) else anchor_score(text) + url_score(url)
        if policy_score >= MIN_POLICY_SCORE and policy_score + 2 > score:
            score, how = policy_score + 2, "policy-link"
        if score and (url not in found or found[url].score < score):
            found[url] = PolicyLink(url, score, text, how)
    return sorted(found.values(), key=lambda link: (-link.score, link.url))


LEGAL_HUB_TEXT = re.compile(
    r"^\s*(legal(\s*(notices?|information|info|center|centre|hub))?|policies|"
    r"terms\s*(&|and)\s*policies|legal\s*(&|and)\s*(policies|terms)|ข้อกำหนด\s*(และ)?\s*นโยบาย|"
    r"กฎหมาย|นโยบาย(ต่างๆ)?)\s*$",
    re.I,
)


def discover_hub_links(html: str, base_url: str) -> list[str]:
    """Same-site "Legal" or "Policies" pages, where a homepage without a privacy link sends users."""
    sel = Selector(text=html or "<html></html>")
    urls = []
    for anchor in sel.css("a[href]"):
        url = _clean_url(anchor.attrib.get("href"), base_url)
        if url and url not in urls and LEGAL_HUB_TEXT.match(_anchor_text(anchor)) \
                and same_site(url, base_url):
            urls.append(url)
    return urls[:2]


POLICY_WORDS = re.compile(
    r"privacy|personal (data|information)|data protection|cookies?|information we collect|"
    r"ความเป็นส่วนตัว|ข้อมูลส่วนบุคคล|คุ้มครองข้อมูล|คุกกี้", re.I
)


def looks_like_policy(text: str, title: str = "") -> bool:
    """Whether a page found by guessing (a common path, a numbered sibling) is policy text."""
    if POLICY_WORDS.search(title or ""):
        return True
    return len(POLICY_WORDS.findall(text or "")) >= 2
