"""What a page does in the browser, after Blacklight's seven tests: fingerprinting API calls,
session recorders, key logging, Meta pixel events, Google Analytics remarketing and third-party
cookies, each noted with the script behind it and whether it came before any interaction.

`PageObserver` records during the visit (scanner/browser_instrument.js runs before the page's
own scripts); `observe_page` ends the visit with a scripted fill of the page's text fields;
`behaviour_findings` turns what was recorded into findings rows (source 'browser').

Longer than 500 lines because the recording and the seven tests share one record format; the
section marked classification is the seam to split out."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from scanner.findings import finding_row, one_line
from scanner.trackers import TrackerList, is_third_party, registrable_domain

JS_KEY = "__childPrivacyScanner"
# Before any interaction the visitor has given no consent: everything recorded then is marked.
BEFORE = "load"
INTERACTION = "interaction"
BEFORE_NOTE = " (before any interaction)"
# The fields a child types into: names, emails, searches, messages. At most a few per page.
TYPABLE = ("input:not([type]), input[type=text], input[type=email], input[type=search], "
           "input[type=tel], input[type=password], textarea")
MAX_FIELDS = 3
# Key loggers batch what they read; give them this long after the last key to send it.
AFTER_TYPING_MS = 1500
EVALUATE_TIMEOUT_S = 3

# practice -> (category, severity). Severity by harm: reading a child's typing or recording the
# session captures what they did; fingerprints follow them where cookies are cleared;
# advertising events feed profiles for ads; a third-party cookie is an identifier at least.
PRACTICES = {
    "browser.canvas-fingerprinting": ("tracking", "high"),
    "browser.audio-fingerprinting": ("tracking", "high"),
    "browser.webgl-fingerprinting": ("tracking", "medium"),
    "browser.session-recording": ("tracking", "high"),
    "browser.key-logging": ("tracking", "high"),
    "browser.meta-pixel-event": ("behavioral_ads", "high"),
    "browser.ga-remarketing": ("behavioral_ads", "high"),
    "browser.third-party-cookie": ("tracking", "medium"),
}


@lru_cache(maxsize=1)
def instrument_script() -> str:
    return Path(__file__).with_name("browser_instrument.js").read_text(encoding="utf-8")


@dataclass
class PageObserver:
    """What one page did while it was open: requests (with the phase they came in), third-party
    Set-Cookie headers, and, at the end, the instrumentation's records."""

    canary: str = field(default_factory=lambda: "kc" + secrets.token_hex(6))
    phase: str = BEFORE
    requests: dict = field(default_factory=dict)       # url -> phase of its first request
    leaks: list = field(default_factory=list)          # requests carrying the canary
    set_cookies: list = field(default_factory=list)    # {url, cookie, domain, phase}
    records: list = field(default_factory=list)        # from browser_instrument.js
    pixel_posts: list = field(default_factory=list)    # Meta pixel POSTs: {url, body, phase}
    webvisor: list = field(default_factory=list)       # Yandex Metrica counters with Webvisor on
    typed: list = field(default_factory=list)          # fields the canary was typed into
    google_signals: list = field(default_factory=list)  # gtag settings read from dataLayer
    cookies_before: set = field(default_factory=set)   # (name, domain) in the jar before typing
    pending: list = field(default_factory=list)        # response header reads not yet done
    page: object = None

    def attach(self, page) -> None:
        self.page = page
        page.on("request", self.on_request)
        page.on("response", self.on_response)

    def on_request(self, request) -> None:
        url = request.url
        self.requests.setdefault(url, self.phase)
        if request.method == "POST" and is_meta_pixel(url) and len(self.pixel_posts) < 50:
            # fbevents.js posts larger events: the event name is in the body, not the URL.
            body = (request.post_data_buffer or b"")[:8192].decode("utf-8", "replace")
            self.pixel_posts.append({"url": url, "body": body, "phase": self.phase})
        if self.phase == INTERACTION:
            where = canary_in(self.canary, url, request.post_data_buffer)
            if where:
                self.leaks.append({"url": url, "where": where, "method": request.method})

    def on_response(self, response) -> None:
        # Only other sites' cookies are wanted: the page's own need no round trip to the driver.
        host = urlsplit(response.url).hostname or ""
        if registrable_domain(host) == registrable_domain(urlsplit(self.page.url).hostname or ""):
            return
        # Playwright's sync `headers` leaves out Set-Cookie; header_values() must be awaited.
        self.pending.append(asyncio.ensure_future(self._read_set_cookie(response, self.phase)))

    async def _read_set_cookie(self, response, phase) -> None:
        try:
            values = await response.header_values("set-cookie")
        except Exception:  # noqa: BLE001 - the page or its response may be gone
            return
        host = urlsplit(response.url).hostname or ""
        for value in values:
            for line in value.split("\n"):
                name = cookie_name(line)
                if name:
                    self.set_cookies.append({"url": response.url, "cookie": name,
                                             "domain": cookie_domain(line, host), "phase": phase})

    def to_dict(self) -> dict:
        return {
            "canary": self.canary, "requests": self.requests, "leaks": self.leaks,
            "set_cookies": self.set_cookies, "records": self.records, "typed": self.typed,
            "google_signals": self.google_signals, "pixel_posts": self.pixel_posts,
            "webvisor": self.webvisor,
            "cookies_before": sorted(map(list, self.cookies_before)),
        }


def cookie_name(set_cookie: str) -> str | None:
    parsed = SimpleCookie()
    try:
        parsed.load(set_cookie.split(";", 1)[0] + ";")
    except Exception:  # noqa: BLE001 - http.cookies raises CookieError and others
        return set_cookie.split("=", 1)[0].strip() or None
    return next(iter(parsed), None)


def cookie_domain(set_cookie: str, host: str) -> str:
    for attribute in set_cookie.split(";")[1:]:
        name, _, value = attribute.partition("=")
        if name.strip().lower() == "domain" and value.strip():
            return value.strip().lstrip(".").lower()
    return host


def canary_forms(canary: str) -> list[str]:
    """The canary as key loggers send it: plain, base64, or hashed (as some 'anonymise' it)."""
    email = f"{canary}@example.com"
    forms = [canary]
    for value in (canary, email):
        raw = value.encode()
        forms += [base64.b64encode(raw).decode().rstrip("="), hashlib.md5(raw).hexdigest(),
                  hashlib.sha1(raw).hexdigest(), hashlib.sha256(raw).hexdigest()]
    return forms


def canary_in(canary: str, url: str, body: bytes | None) -> str | None:
    """'url' or 'body' when a request carries the canary in any of its forms, else None."""
    forms = canary_forms(canary)
    decoded_url = unquote(url)
    if any(form in decoded_url for form in forms):
        return "url"
    if body:
        text = unquote(body.decode("utf-8", "replace"))
        if any(form in text for form in forms):
            return "body"
    return None


async def set_phase(page, phase: str, canary: str | None = None) -> None:
    """Tell the instrumentation in every frame which phase the visit is in."""
    script = f"(p, c) => {{ const s = window.{JS_KEY}; if (s) {{ s.setPhase(p); if (c) s.setCanary(c); }} }}"
    for frame in page.frames:
        try:
            await asyncio.wait_for(frame.evaluate(f"([p, c]) => ({script})(p, c)", [phase, canary]),
                                   EVALUATE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a frame that navigated or hangs is skipped
            continue


async def collect_records(page) -> list[dict]:
    records = []
    for frame in page.frames:
        try:
            records += await asyncio.wait_for(
                frame.evaluate(f"() => window.{JS_KEY} ? window.{JS_KEY}.take() : []"),
                EVALUATE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - as above
            continue
    return records


# Tag settings the page gave its tags: gtag's Google signals, Yandex Metrica's Webvisor.
PAGE_SETTINGS_JS = """() => {
  const google = [], webvisor = [];
  const queue = (q) => Array.isArray(q) ? q.slice(0, 500) : [];
  for (const entry of queue(window.dataLayer)) {
    const settings = entry && entry[2];
    if (settings && typeof settings === 'object') {
      for (const key of ['allow_google_signals', 'allow_ad_personalization_signals']) {
        if (settings[key] === true || settings[key] === 'true') google.push(`${entry[0]} ${entry[1]} ${key}=true`);
      }
    }
  }
  for (const entry of queue(window.ym && window.ym.a)) {
    if (entry && entry[1] === 'init' && entry[2] && entry[2].webvisor) webvisor.push(String(entry[0]));
  }
  return {google: google.slice(0, 20), webvisor: webvisor.slice(0, 20)};
}"""
# Where Yandex Metrica sends Webvisor's recordings (its own category in the list is analytics).
WEBVISOR_URLS = re.compile(r"^https?://(mc\.yandex\.[a-z.]+/webvisor/|([a-z0-9-]+\.)*webvisor\.org/)")


async def interact(page, observer: PageObserver) -> None:
    """Type the canary into the page's visible text fields, as a child filling a form would,
    without submitting anything."""
    fields = page.locator(TYPABLE)
    count = min(await fields.count(), 20)
    for index in range(count):
        if len(observer.typed) >= MAX_FIELDS:
            break
        field_ = fields.nth(index)
        try:
            if not await field_.is_visible() or not await field_.is_editable():
                continue
            kind = (await field_.get_attribute("type") or "text").lower()
            value = f"{observer.canary}@example.com" if kind == "email" else observer.canary
            await field_.press_sequentially(value, timeout=3000)
            name = await field_.get_attribute("name") or await field_.get_attribute("id") or ""
            observer.typed.append(f"{kind}[{name}]" if name else kind)
        except Exception:  # noqa: BLE001 - a field that moved or vanished is skipped
            continue
    if observer.typed:
        await page.wait_for_timeout(AFTER_TYPING_MS)


async def observe_page(page, observer: PageObserver | None) -> dict | None:
    """End of a visit: what happened before any interaction, then the scripted typing, then
    everything recorded. None when the page was not instrumented."""
    if observer is None:
        return None
    from playwright.async_api import Error as PlaywrightError

    try:
        observer.cookies_before = {(c["name"], c["domain"].lstrip("."))
                                   for c in await page.context.cookies()}
        try:
            settings = await asyncio.wait_for(page.evaluate(PAGE_SETTINGS_JS), EVALUATE_TIMEOUT_S)
            observer.google_signals, observer.webvisor = settings["google"], settings["webvisor"]
        except Exception:  # noqa: BLE001 - a page that overrides dataLayer or ym oddly
            pass
        # Read now as well: typing could make a page navigate, and its records go with it.
        before = await collect_records(page)
        observer.phase = INTERACTION
        await set_phase(page, INTERACTION, observer.canary)
        await interact(page, observer)
        observer.records = merge_records(before, await collect_records(page))
    except PlaywrightError:
        # The page crashed or closed under us: what was recorded until then still counts.
        pass
    finally:
        if observer.pending:
            await asyncio.gather(*observer.pending, return_exceptions=True)
            observer.pending.clear()
    return observer.to_dict()


def merge_records(*batches: list[dict]) -> list[dict]:
    """One record per call site, whichever reading saw it first."""
    merged = {}
    for batch in batches:
        for r in batch:
            key = (r.get("kind"), r.get("api"), r.get("script"), r.get("phase"), r.get("detail"),
                   r.get("frame"))
            merged.setdefault(key, r)
    return list(merged.values())


# ---- classification ----------------------------------------------------------------------

@dataclass(frozen=True)
class Behaviour:
    practice: str
    evidence: str
    before_interaction: bool
    key: str  # what makes two of them the same (one finding each)


def _note(phase: str) -> str:
    return BEFORE_NOTE if phase == BEFORE else ""


def _script(record: dict) -> str:
    return record.get("script") or "an unknown script"


def fingerprinting(records: list[dict]) -> list[Behaviour]:
    practices = {"canvas": "browser.canvas-fingerprinting",
                 "canvas-font": "browser.canvas-fingerprinting",
                 "audio": "browser.audio-fingerprinting",
                 "webgl": "browser.webgl-fingerprinting"}
    found = []
    for r in records:
        practice = practices.get(r["kind"])
        if practice:
            found.append(Behaviour(
                practice, f"{_script(r)} called {r['api']}: {r['detail']}{_note(r['phase'])}",
                r["phase"] == BEFORE, f"{practice}|{r['script']}|{r['kind']}"))
    return found


def session_recording(records: list[dict], requests: dict, page_url: str,
                      trackers: TrackerList, webvisor=()) -> list[Behaviour]:
    """Scripts of known session-recording services (by the tracker list's category), then any
    other script that both watches every change to the page and listens to typing and pointer."""
    found, services = [], set()
    for url, phase in requests.items():
        info = trackers.lookup(urlsplit(url).hostname or "")
        if info and info.category == "session_replay" and info.entity not in services:
            services.add(info.entity)
            found.append(Behaviour(
                "browser.session-recording",
                f"{url} loaded ({info.entity}, session recording){_note(phase)}",
                phase == BEFORE, f"service|{info.entity}"))
        elif WEBVISOR_URLS.match(url) and "Yandex" not in services:
            services.add("Yandex")
            found.append(Behaviour(
                "browser.session-recording",
                f"{one_line(url, 300)} sent (Yandex Metrica Webvisor, session recording){_note(phase)}",
                phase == BEFORE, "service|Yandex"))
    for counter in webvisor:
        if "Yandex" not in services:
            services.add("Yandex")
            found.append(Behaviour(
                "browser.session-recording",
                f"Yandex Metrica counter {counter} initialised with webvisor: true (session "
                f"recording){BEFORE_NOTE}", True, "service|Yandex"))
    by_script: dict[str, dict[str, dict]] = {}
    for r in records:
        if r["kind"] in ("dom-observer", "typing-listener", "pointer-listener") and r.get("script"):
            by_script.setdefault(r["script"], {}).setdefault(r["kind"], r)
    for script, kinds in by_script.items():
        if len(kinds) < 3:
            continue
        info = trackers.lookup(urlsplit(script).hostname or "")
        if info and info.entity in services:
            continue
        phase = BEFORE if all(k["phase"] == BEFORE for k in kinds.values()) else INTERACTION
        found.append(Behaviour(
            "browser.session-recording",
            f"{script} observes every change to the page (MutationObserver on "
            f"{kinds['dom-observer']['detail']}) and listens to typing "
            f"({kinds['typing-listener']['api']}) and the pointer "
            f"({kinds['pointer-listener']['api']}){_note(phase)}",
            phase == BEFORE, f"pattern|{script}"))
    return found


def key_logging(observed: dict, records: list[dict], page_url: str,
                trackers: TrackerList) -> list[Behaviour]:
    """Text typed into a field (never submitted) that another site received anyway. The site's
    own search suggestions, sent to itself as the child types, are not counted."""
    page_host = urlsplit(page_url).hostname or ""
    leaks = [leak for leak in observed.get("leaks") or []
             if is_third_party(urlsplit(leak["url"]).hostname or "", page_host, trackers)]
    if not leaks:
        return []
    senders = {r["detail"]: r for r in records if r["kind"] == "canary-sent"}
    fields = ", ".join(observed.get("typed") or []) or "a field"
    found = []
    for leak in leaks[:5]:
        sender = senders.get(leak["url"])
        listeners = sorted({_script(r) for r in records if r["kind"] == "typing-listener"})
        by = (f" by {_script(sender)} ({sender['api']})" if sender
              else f" (typing listeners: {', '.join(listeners[:3])})" if listeners else "")
        found.append(Behaviour(
            "browser.key-logging",
            f"typed into {fields} without submitting; the text was sent in the {leak['where']} of "
            f"{leak['method']} {one_line(leak['url'], 300)}{by}",
            False, f"{urlsplit(leak['url']).hostname}"))
    return found


def _senders(records: list[dict]) -> dict[str, dict]:
    return {r["detail"]: r for r in records if r["kind"] == "beacon"}


def is_meta_pixel(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return (host == "facebook.com" or host.endswith(".facebook.com")) and parts.path.rstrip("/") == "/tr"


def form_fields(body: str) -> dict[str, str]:
    """Fields of a urlencoded or multipart form body (the first value of each)."""
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    for name, value in re.findall(r'name="([^"]+)"\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]*)', body):
        fields.setdefault(name, value)
    return fields


def meta_pixel_events(requests: dict, records: list[dict], posts: list[dict]) -> list[Behaviour]:
    found, senders = [], _senders(records)
    sent = [(url, phase, parse_qs(urlsplit(url).query)) for url, phase in requests.items()]
    sent += [(p["url"], p["phase"], {k: [v] for k, v in form_fields(p["body"]).items()})
             for p in posts]
    for url, phase, query in sent:
        if not is_meta_pixel(url):
            continue
        event = (query.get("ev") or [""])[0]
        if not event:
            continue
        pixel = (query.get("id") or ["?"])[0]
        sender = senders.get(url)
        by = f" by {_script(sender)}" if sender else ""
        found.append(Behaviour(
            "browser.meta-pixel-event",
            f"Meta pixel {pixel} event {event} sent{by}: {one_line(url, 300)}{_note(phase)}",
            phase == BEFORE, f"{pixel}|{event}"))
    return found


def ga_remarketing(requests: dict, records: list[dict], google_signals: list) -> list[Behaviour]:
    found, senders = [], _senders(records)
    for url, phase in requests.items():
        parts = urlsplit(url)
        host = parts.hostname or ""
        query = parse_qs(parts.query)
        if host == "stats.g.doubleclick.net":
            what = "Google Analytics advertising features (remarketing audiences)"
        elif "/ads/ga-audiences" in parts.path and (host.startswith("www.google.") or host.startswith("google.")):
            what = "Google Analytics remarketing audiences"
        elif host.endswith("google-analytics.com") and "collect" in parts.path and \
                query.get("npa") == ["0"]:
            what = "Google Analytics hit with ad personalisation on (npa=0)"
        else:
            continue
        sender = senders.get(url)
        by = f" by {_script(sender)}" if sender else ""
        found.append(Behaviour(
            "browser.ga-remarketing", f"{what}{by}: {one_line(url, 300)}{_note(phase)}",
            phase == BEFORE, f"{host}|{parts.path}"))
    for setting in google_signals:
        found.append(Behaviour(
            "browser.ga-remarketing",
            f"gtag {setting} in the page's dataLayer (Google signals: ad features){BEFORE_NOTE}",
            True, f"gtag|{setting}"))
    return found


def third_party_cookies(observed: dict, cookies: list, page_url: str,
                        trackers: TrackerList) -> list[Behaviour]:
    """Cookies of other sites: those the browser kept, and those it was sent but refused
    (Chromium blocks most third-party cookies; other browsers keep many)."""
    page_host = urlsplit(page_url).hostname or ""
    before = {tuple(c) for c in observed.get("cookies_before") or []}
    found, kept = [], set()
    for c in cookies:
        if getattr(c, "via", None) != "browser" or not is_third_party(c.domain, page_host, trackers):
            continue
        kept.add((c.name, c.domain))
        is_before = (c.name, c.domain) in before
        found.append(Behaviour(
            "browser.third-party-cookie",
            f"cookie {c.name} for {c.domain} kept by the browser, expires "
            f"{c.expires or 'at session end'}{BEFORE_NOTE if is_before else ''}",
            is_before, f"{c.domain}|{c.name}"))
    for sc in observed.get("set_cookies") or []:
        domain = sc["domain"]
        if (sc["cookie"], domain) in kept or not is_third_party(domain, page_host, trackers):
            continue
        kept.add((sc["cookie"], domain))
        found.append(Behaviour(
            "browser.third-party-cookie",
            f"cookie {sc['cookie']} for {domain} set by {one_line(sc['url'], 300)} "
            f"(refused by this browser){_note(sc['phase'])}",
            sc["phase"] == BEFORE, f"{domain}|{sc['cookie']}"))
    return found


def classify(observed: dict, cookies: list, page_url: str, trackers: TrackerList) -> list[Behaviour]:
    """Every behaviour the visit showed, one per practice and key."""
    records = observed.get("records") or []
    requests = observed.get("requests") or {}
    found = (fingerprinting(records)
             + session_recording(records, requests, page_url, trackers,
                                 observed.get("webvisor") or ())
             + key_logging(observed, records, page_url, trackers)
             + meta_pixel_events(requests, records, observed.get("pixel_posts") or [])
             + ga_remarketing(requests, records, observed.get("google_signals") or [])
             + third_party_cookies(observed, cookies, page_url, trackers))
    unique = {}
    for behaviour in found:
        unique.setdefault((behaviour.practice, behaviour.key), behaviour)
    return list(unique.values())


def behaviour_findings(scan_id: int, item, trackers: TrackerList) -> list[dict]:
    """Findings rows (source 'browser') for one page's observations."""
    page_url = item.final_url or item.url
    rows = []
    for b in classify(item.behaviour, item.cookies, page_url, trackers):
        category, severity = PRACTICES[b.practice]
        rows.append(finding_row(
            scan_id, item.target_id, source="browser", rule_id=b.practice, category=category,
            practice=b.practice, severity=severity, polarity="risk",
            evidence=one_line(b.evidence, 1000), url=page_url,
        ))
    return rows
