"""What a page pulls in: resource URLs from its HTML, tracker snippets in inline scripts, cookies.

Every resource is (url, via). `via` is the contract's coarse kind (script, img, iframe, link,
inline, cookie, browser) or a finer one, `coarse.detail` where a coarse kind applies
(img.pixel, link.preconnect, ...); the full list is VIA_KINDS and docs/trackers.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree
from parsel import Selector

from scanner.trackers import has_known_suffix

VIA_KINDS = {
    "script": "<script src>",
    "img": "<img src>, <input type=image src>",
    "img.pixel": "a 1x1 or hidden <img> (tracking pixel)",
    "img.noscript": "an <img> inside <noscript> (the no-JavaScript pixel of a tag)",
    "img.srcset": "a candidate of <img srcset>",
    "iframe": "<iframe src>, <frame src>",
    "iframe.noscript": "an <iframe> inside <noscript> (Google Tag Manager's fallback)",
    "link": "<link href> with rel icon, manifest or another loading rel",
    "link.stylesheet": "<link rel=stylesheet>",
    "link.preload": "<link rel=preload|modulepreload>",
    "link.prefetch": "<link rel=prefetch|prerender>",
    "link.preconnect": "<link rel=preconnect> (opens a connection, no request URL path)",
    "link.dns-prefetch": "<link rel=dns-prefetch> (resolves the host)",
    "embed": "<embed src>",
    "object": "<object data>",
    "source": "<source src> of <video>, <audio>, <picture>",
    "source.srcset": "a candidate of <source srcset>",
    "media": "<video src|poster>, <audio src>, <track src>",
    "form": "<form action>, formaction on a button or input (where typed data is sent)",
    "css": "url() and @import in style attributes and <style> blocks",
    "meta-refresh": "<meta http-equiv=refresh content='0; url=...'>",
    "a.ping": "<a ping> (a beacon sent when the link is followed)",
    "a.attribution": "a link through a mobile attribution service (AppsFlyer OneLink, Branch, ...)",
    "inline": "the URL an inline tracker snippet loads, built from the ID it carries",
    "inline.url": "an absolute URL written in an inline script (script loaders, document.write)",
    "cookie": "a cookie set for the third party's domain",
    "browser": "a request seen by the browser tier",
}

# Rels that make the browser fetch or connect; canonical, alternate, author... only name a URL.
LINK_RELS = (
    ("preconnect", "link.preconnect"), ("dns-prefetch", "link.dns-prefetch"),
    ("modulepreload", "link.preload"), ("preload", "link.preload"),
    ("prefetch", "link.prefetch"), ("prerender", "link.prefetch"),
    ("stylesheet", "link.stylesheet"), ("icon", "link"), ("apple-touch-icon", "link"),
    ("apple-touch-icon-precomposed", "link"), ("mask-icon", "link"), ("manifest", "link"),
    ("import", "link"),
)

# Hosts of deep links that pass through an attribution company before reaching the app.
ATTRIBUTION_HOSTS = ("onelink.me", "app.link", "bnc.lt", "app.adjust.com", "adj.st",
                     "go.link", "page.link", "smart.link", "kochava.com")

NON_EXECUTABLE_SCRIPT_TYPES = ("application/ld+json", "application/json", "text/template",
                               "text/x-template", "text/html", "importmap", "speculationrules")


@dataclass(frozen=True)
class Resource:
    url: str
    via: str


@dataclass(frozen=True)
class Snippet:
    """An inline tracker snippet: a regex whose first group is the ID, and the URL it loads."""

    name: str
    pattern: re.Pattern
    url: str  # {id} is replaced by the ID found


def _snippet(name, pattern, url):
    return Snippet(name, re.compile(pattern), url)


_Q = r"""['"]"""
INLINE_SNIPPETS = (
    _snippet("google-tag-manager", r"\b(GTM-[A-Z0-9]{4,10})\b",
             "https://www.googletagmanager.com/gtm.js?id={id}"),
    _snippet("google-tag", _Q + r"((?:G|AW|DC)-[A-Z0-9]{5,14})" + _Q,
             "https://www.googletagmanager.com/gtag/js?id={id}"),
    _snippet("google-analytics-ua", _Q + r"(UA-\d{4,10}-\d{1,4})" + _Q,
             "https://www.google-analytics.com/collect?tid={id}"),
    _snippet("meta-pixel", r"fbq\(\s*" + _Q + r"init" + _Q + r"\s*,\s*" + _Q + r"?(\d{6,20})",
             "https://www.facebook.com/tr?id={id}&ev=PageView"),
    _snippet("tiktok-pixel", r"ttq\.load\(\s*" + _Q + r"([A-Z0-9]{8,30})" + _Q,
             "https://analytics.tiktok.com/i18n/pixel/events.js?sdkid={id}"),
    _snippet("hotjar", r"\bhjid\s*:\s*(\d{3,12})", "https://static.hotjar.com/c/hotjar-{id}.js"),
    _snippet("segment", r"analytics\.load\(\s*" + _Q + r"([A-Za-z0-9]{10,64})" + _Q,
             "https://cdn.segment.com/analytics.js/v1/{id}/analytics.min.js"),
    _snippet("snap-pixel", r"snaptr\(\s*" + _Q + r"init" + _Q + r"\s*,\s*" + _Q + r"([0-9a-f-]{20,40})",
             "https://tr.snapchat.com/p?pid={id}"),
    _snippet("x-pixel", r"twq\(\s*" + _Q + r"(?:init|config)" + _Q + r"\s*,\s*" + _Q + r"([a-z0-9]{4,12})",
             "https://analytics.twitter.com/i/adsct?txn_id={id}"),
    _snippet("linkedin-insight", r"_linkedin_partner_id\s*=\s*" + _Q + r"?(\d{3,12})",
             "https://px.ads.linkedin.com/collect?pid={id}"),
    _snippet("pinterest-tag", r"pintrk\(\s*" + _Q + r"load" + _Q + r"\s*,\s*" + _Q + r"(\d{6,20})",
             "https://ct.pinterest.com/v3/?tid={id}"),
    _snippet("microsoft-clarity", r"" + _Q + r"clarity" + _Q + r"\s*,\s*" + _Q + r"script" + _Q
             + r"\s*,\s*" + _Q + r"([a-z0-9]{6,16})" + _Q, "https://www.clarity.ms/tag/{id}"),
    _snippet("bing-uet", r"\bti\s*:\s*" + _Q + r"?(\d{5,12})", "https://bat.bing.com/action/0?ti={id}"),
    _snippet("yandex-metrica", r"\bym\(\s*(\d{5,12})\s*,\s*" + _Q + r"init",
             "https://mc.yandex.ru/watch/{id}"),
    _snippet("appsflyer-web-sdk", r"webAppId\s*:\s*" + _Q + r"([0-9a-f-]{20,40})" + _Q,
             "https://websdk.appsflyer.com/?webAppId={id}"),
    _snippet("branch", r"branch\.init\(\s*" + _Q + r"(key_(?:live|test)_[A-Za-z0-9]+)" + _Q,
             "https://api2.branch.io/v1/open?branch_key={id}"),
    _snippet("superawesome", r"(?is)(?:superawesome|awesomeads)\W.{0,300}?placement_?id\W{1,4}(\d{2,10})",
             "https://ads.superawesome.tv/v2/ad/{id}"),
    _snippet("kidoz", r"(?is)kidoz\W.{0,300}?publisher_?id\W{1,4}(\d{1,10})",
             "https://sdk.kidoz.net/api/initSDK?publisher_id={id}"),
)

# Snippets recognised by their code when no ID can be read: the loader they fetch.
INLINE_LOADERS = (
    (re.compile(r"\bfbq\("), "https://connect.facebook.net/en_US/fbevents.js"),
    (re.compile(r"\bttq\.(?:load|page|track)\("), "https://analytics.tiktok.com/i18n/pixel/events.js"),
    (re.compile(r"_hjSettings"), "https://static.hotjar.com/"),
    (re.compile(r"\bsnaptr\("), "https://sc-static.net/scevent.min.js"),
    (re.compile(r"\btwq\("), "https://static.ads-twitter.com/uwt.js"),
    (re.compile(r"\bgtag\(\s*['\"]config"), "https://www.googletagmanager.com/gtag/js"),
    (re.compile(r"AF_SMART_SCRIPT|\bAF\(\s*['\"]pba"), "https://websdk.appsflyer.com/"),
    (re.compile(r"\bbranch\.init\("), "https://cdn.branch.io/branch-latest.min.js"),
    (re.compile(r"(?i)\bsuperawesome\b|\bawesomeads\b"), "https://ads.superawesome.tv/v2/ad"),
    (re.compile(r"(?i)\bkidoz\b"), "https://sdk.kidoz.net/"),
)

# Absolute or protocol-relative URLs in string literals of inline scripts.
SCRIPT_URL = re.compile(r"""['"`]((?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}(?::\d+)?(?:/[^'"`\s<>\\]*)?)""", re.I)
CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)|@import\s+(['"])([^'"]+)\3""", re.I)
META_REFRESH_URL = re.compile(r"""url\s*=\s*['"]?([^'"\s;]+)""", re.I)
PX_VALUE = re.compile(r"^\s*([01])(?:px)?\s*$")


def inline_tracker_urls(script: str) -> list[str]:
    """The URLs the tracker snippets in one inline script load, IDs included where written."""
    urls = []
    for snippet in INLINE_SNIPPETS:
        for match in snippet.pattern.finditer(script):
            urls.append(snippet.url.format(id=match.group(1)))
    if not urls:
        urls = [url for pattern, url in INLINE_LOADERS if pattern.search(script)]
    return urls


def parse_srcset(value: str) -> list[str]:
    """The URLs of a srcset attribute (commas inside a URL are kept, as the HTML spec does)."""
    urls, pos, value = [], 0, value or ""
    while pos < len(value):
        while pos < len(value) and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < len(value) and not value[pos].isspace():
            pos += 1
        url = value[start:pos].rstrip(",")
        if url:
            urls.append(url)
        if not value[start:pos].endswith(","):
            while pos < len(value) and value[pos] != ",":
                pos += 1
    return urls


def css_urls(css: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in CSS_URL.finditer(css or "")]


def _is_pixel(img) -> bool:
    width, height = img.attrib.get("width", ""), img.attrib.get("height", "")
    if PX_VALUE.match(width) and PX_VALUE.match(height):
        return True
    style = (img.attrib.get("style") or "").replace(" ", "").lower()
    if "display:none" in style or "visibility:hidden" in style:
        return True
    return ("width:1px" in style or "width:0" in style) and ("height:1px" in style or "height:0" in style)


# A path beginning with one "/" (urlsplit drops tabs and line breaks anywhere: none of them).
ROOTED_PATH = re.compile(r"/(?!/)[^\t\r\n]*\Z")


@functools.lru_cache(maxsize=4096)
def _join_on_origin(origin: str, raw: str) -> str | None:
    """urljoin(base, raw) where it reads only the base's scheme and host (origin), remembered so
    that what every page of a site loads is resolved once: a raw path beginning with one "/",
    or a raw URL with a host of its own ("" when that URL is not http(s): it is left out).
    None when raw is relative to the base's path or has an empty host: the base is needed."""
    if ROOTED_PATH.match(raw):
        return urljoin(origin, raw)  # http(s), as the origin is
    if not urlsplit(raw).netloc:
        return None
    url = urljoin(origin, raw)
    return url if urlsplit(url).scheme in ("http", "https") else ""


class _Collector:
    def __init__(self, page_url: str):
        self.base = page_url
        self.seen: set = set()
        self.out: list[Resource] = []
        try:
            parts = urlsplit(page_url)
        except ValueError:
            parts = None
        self.origin = f"{parts.scheme}://{parts.netloc}/" \
            if parts and parts.scheme in ("http", "https") and parts.netloc else None

    def add(self, raw: str | None, via: str) -> None:
        raw = (raw or "").strip()
        if not raw or raw.startswith(("data:", "javascript:", "#", "mailto:", "tel:", "blob:", "about:")):
            return
        try:
            url = _join_on_origin(self.origin, raw) if self.origin else None
            if url is None:
                url = urljoin(self.base, raw)
                if urlsplit(url).scheme not in ("http", "https"):
                    return
            elif not url:
                return
        except ValueError:
            return
        if (url, via) not in self.seen:
            self.seen.add((url, via))
            self.out.append(Resource(url, via))


class PageResources:
    """A page's resources as [(url, via)], extracted from its HTML when first read: a worker of
    `scanner scan` sends the HTML, and the scan process, which classifies the third parties,
    extracts them (scanner.store_writer). as_html: the page was parsed as HTML by Scrapy (an
    HtmlResponse), so it is parsed as HTML again, as Scrapy's selector did."""

    __slots__ = ("html", "page_url", "as_html", "extracted")

    def __init__(self, html: str, page_url: str, as_html: bool):
        self.html, self.page_url, self.as_html = html, page_url, as_html
        self.extracted: list[tuple[str, str]] | None = None

    def resolve(self) -> list[tuple[str, str]]:
        if self.extracted is None:
            selector = Selector(text=self.html, type="html") if self.as_html else None
            self.extracted = [(r.url, r.via) for r in
                              extract_resources(self.html, self.page_url, selector=selector)]
            self.html = None
        return self.extracted

    def __iter__(self):
        return iter(self.resolve())

    def __len__(self) -> int:
        return len(self.resolve())

    def __eq__(self, other) -> bool:
        return self.resolve() == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        state = "unread" if self.extracted is None else f"{len(self.extracted)} resources"
        return f"PageResources({self.page_url!r}, {state})"


def extract_resources(html: str, page_url: str, selector: Selector | None = None) -> list[Resource]:
    """Every absolute http(s) URL the page loads, connects to or sends data to, with how.

    `selector`: the page already parsed as HTML (a Scrapy response's), not parsed again."""
    sel = selector if selector is not None else Selector(text=html or "<html></html>")
    base = sel.xpath("//base/@href").get()
    out = _Collector(urljoin(page_url, base.strip()) if base else page_url)
    _extract_elements(sel, out, in_noscript=False)
    # lxml may keep <noscript> content as text (it does inside <head> with some versions).
    for text in sel.xpath("//noscript/text()").getall():
        if "<" in text:
            _extract_elements(Selector(text=f"<html><body>{text}</body></html>"), out, in_noscript=True)
    return out.out


# The elements _extract_elements reads, in document order: only these become Python objects
# (a page's many <div>, <p> and <li> without a style attribute are skipped inside lxml).
LOADING_ELEMENTS = etree.XPath(
    "//script | //img | //iframe | //frame | //link | //embed | //object | //source | //video"
    " | //audio | //track | //form | //button | //input | //style | //meta | //a | //*[@style]")


def _extract_elements(sel: Selector, out: _Collector, *, in_noscript: bool) -> None:
    root = sel.root
    if not hasattr(root, "iter"):
        return
    in_noscript_elements = set(root.xpath("//noscript//*"))
    for el in LOADING_ELEMENTS(root):
        tag = el.tag.lower()
        attrib = el.attrib
        noscript = in_noscript or el in in_noscript_elements
        if tag == "script":
            if attrib.get("src"):
                out.add(attrib["src"], "script")
            elif not noscript and (attrib.get("type") or "").lower() not in NON_EXECUTABLE_SCRIPT_TYPES:
                _extract_inline_script(el.text or "", out)
        elif tag == "img":
            via = "img.noscript" if noscript else ("img.pixel" if _is_pixel(el) else "img")
            out.add(attrib.get("src"), via)
            for url in parse_srcset(attrib.get("srcset", "")):
                out.add(url, "img.srcset")
        elif tag in ("iframe", "frame"):
            out.add(attrib.get("src"), "iframe.noscript" if noscript else "iframe")
        elif tag == "link":
            rels = (attrib.get("rel") or "").lower().split()
            via = next((v for rel, v in LINK_RELS if rel in rels), None)
            if via:
                out.add(attrib.get("href"), via)
                for url in parse_srcset(attrib.get("imagesrcset", "")):
                    out.add(url, via)
        elif tag == "embed":
            out.add(attrib.get("src"), "embed")
        elif tag == "object":
            out.add(attrib.get("data"), "object")
        elif tag == "source":
            out.add(attrib.get("src"), "source")
            for url in parse_srcset(attrib.get("srcset", "")):
                out.add(url, "source.srcset")
        elif tag in ("video", "audio", "track"):
            out.add(attrib.get("src"), "media")
            out.add(attrib.get("poster"), "media")
        elif tag == "form":
            out.add(attrib.get("action"), "form")
        elif tag in ("button", "input"):
            out.add(attrib.get("formaction"), "form")
            if tag == "input" and (attrib.get("type") or "").lower() == "image":
                out.add(attrib.get("src"), "img")
        elif tag == "style":
            for url in css_urls(el.text or ""):
                out.add(url, "css")
        elif tag == "meta":
            if (attrib.get("http-equiv") or "").lower() == "refresh":
                match = META_REFRESH_URL.search(attrib.get("content") or "")
                if match:
                    out.add(match.group(1), "meta-refresh")
        elif tag == "a":
            for ping in (attrib.get("ping") or "").split():
                out.add(ping, "a.ping")
            href = attrib.get("href") or ""
            host = (urlsplit(href).hostname or "") if href.startswith(("http", "//")) else ""
            if host and any(host == h or host.endswith("." + h) for h in ATTRIBUTION_HOSTS):
                out.add(href, "a.attribution")
        style = attrib.get("style")
        if style and "url(" in style:
            for url in css_urls(style):
                out.add(url, "css")


def _extract_inline_script(script: str, out: _Collector) -> None:
    if not script.strip():
        return
    for url in inline_tracker_urls(script):
        out.add(url, "inline")
    for match in SCRIPT_URL.finditer(script):
        # 'https://www.googletagmanager' + '.com/...' is half a URL: its "TLD" is no suffix.
        if has_known_suffix(urlsplit(urljoin("https:", match.group(1))).hostname or ""):
            out.add(match.group(1), "inline.url")


def coarse_via(via: str) -> str:
    """The contract's kind for a via value: 'img' for 'img.pixel', 'link' for 'link.preconnect'."""
    return via.split(".", 1)[0]


# Adblock Plus request types for each via (what a browser would report for that load).
ABP_REQUEST_TYPES = {
    "script": "script", "inline": "script", "inline.url": "script", "img": "image",
    "img.pixel": "image", "img.noscript": "image", "img.srcset": "image", "iframe": "sub_frame",
    "iframe.noscript": "sub_frame", "link.stylesheet": "stylesheet", "css": "image",
    "embed": "object", "object": "object", "source": "media", "source.srcset": "image",
    "media": "media", "a.ping": "ping", "form": "other", "meta-refresh": "document",
}


def abp_request_type(via: str) -> str:
    return ABP_REQUEST_TYPES.get(via, "other")


@dataclass(frozen=True)
class CookieRecord:
    name: str
    domain: str
    expires: str | None
    secure: bool
    samesite: str | None
    http_only: bool
    host_only: bool = False


def parse_set_cookie(header: str, request_host: str, received_at: dt.datetime | None = None) -> CookieRecord | None:
    """One Set-Cookie header -> CookieRecord; expiry as an ISO time (None for a session cookie)."""
    parts = [p.strip() for p in header.split(";")]
    if not parts or "=" not in parts[0]:
        return None
    name = parts[0].split("=", 1)[0].strip()
    if not name:
        return None
    attrs = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        attrs[key.strip().lower()] = value.strip()
    expires = None
    if attrs.get("expires"):
        try:
            expires = parsedate_to_datetime(attrs["expires"]).astimezone(dt.timezone.utc).isoformat()
        except (TypeError, ValueError, IndexError):
            expires = attrs["expires"]
    if "max-age" in attrs:
        # Max-Age wins over Expires (RFC 6265 5.3).
        try:
            seconds = int(attrs["max-age"])
            start = received_at or dt.datetime.now(dt.timezone.utc)
            expires = (start + dt.timedelta(seconds=max(seconds, 0))).isoformat(timespec="seconds")
        except (ValueError, OverflowError):
            pass
    samesite = attrs.get("samesite")
    if samesite:
        samesite = samesite.capitalize()
    domain = (attrs.get("domain") or "").lstrip(".").lower()
    return CookieRecord(
        name=name, domain=domain or (request_host or "").lower(), expires=expires,
        secure="secure" in attrs, samesite=samesite, http_only="httponly" in attrs,
        host_only=not domain,
    )


# Tracker IDs that a request URL carries (so inline snippets and <script src> agree).
TRACKER_ID_PATTERNS = (
    (None, re.compile(r"\b(GTM-[A-Z0-9]{4,10})\b")),
    (None, re.compile(r"\b((?:G|AW|DC)-[A-Z0-9]{5,14})\b")),
    (None, re.compile(r"\b(UA-\d{4,10}-\d{1,4})\b")),
    ("meta-pixel", re.compile(r"facebook\.com/tr/?\?(?:.*&)?id=(\d{6,20})")),
    ("tiktok-pixel", re.compile(r"tiktok\.com/.*[?&]sdkid=([A-Z0-9]{8,30})")),
    ("hotjar", re.compile(r"hotjar\.com/c/hotjar-(\d+)\.js")),
    ("segment", re.compile(r"segment\.(?:com|io)/analytics\.js/v1/([A-Za-z0-9]{10,64})/")),
    ("snap-pixel", re.compile(r"snapchat\.com/p\?(?:.*&)?pid=([0-9a-f-]{20,40})")),
    ("x-pixel", re.compile(r"(?:twitter\.com|t\.co)/i/adsct\?(?:.*&)?txn_id=([a-z0-9]{4,12})")),
    ("linkedin-insight", re.compile(r"linkedin\.com/collect\?(?:.*&)?pid=(\d+)")),
    ("pinterest-tag", re.compile(r"pinterest\.com/v3/\?(?:.*&)?tid=(\d+)")),
    ("microsoft-clarity", re.compile(r"clarity\.ms/tag/([a-z0-9]{6,16})")),
    ("bing-uet", re.compile(r"bat\.bing\.com/action/0\?(?:.*&)?ti=(\d+)")),
    ("yandex-metrica", re.compile(r"mc\.yandex\.ru/watch/(\d+)")),
    ("appsflyer-web-sdk", re.compile(r"appsflyer\.com/\?(?:.*&)?webAppId=([0-9a-f-]{20,40})")),
    ("branch", re.compile(r"[?&]branch_key=(key_(?:live|test)_[A-Za-z0-9]+)")),
    ("superawesome", re.compile(r"superawesome\.tv/v2/ad/(\d+)")),
    ("kidoz", re.compile(r"kidoz\.net/.*[?&]publisher_id=(\d+)")),
)


def tracker_ids(url: str) -> list[str]:
    """IDs of accounts and containers a tracker URL names: G-XXXX, GTM-XXXX, meta-pixel:123..."""
    return list(_tracker_ids(url))


@functools.lru_cache(maxsize=1024)
def _tracker_ids(url: str) -> tuple[str, ...]:
    """tracker_ids, remembered: every page of a site loads the same tags with the same IDs."""
    found = []
    for label, pattern in TRACKER_ID_PATTERNS:
        for match in pattern.finditer(url):
            value = f"{label}:{match.group(1)}" if label else match.group(1)
            if value not in found:
                found.append(value)
    return tuple(found)
