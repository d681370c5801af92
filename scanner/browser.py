"""The browser tier: Scrapy settings and page hooks that drive Debian's Chromium through
scrapy-playwright, record every request a page makes and keep the browser inside its bounds."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from scanner.resources import CookieRecord
from scanner.safety import refusal_for, url_problem

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "install Debian's chromium with `make browser` (never `playwright install`)"

# Two walls keep the browser in bounds. The first, a route abort, sees each request's first
# hop only: Playwright does not route redirect hops (checked), nor preconnects, popups or
# workers. The second is Chromium's own resolver, which every connection goes through, IP
# literals included (checked: 127.0.0.2 fails with ERR_NAME_NOT_RESOLVED, not
# ERR_CONNECTION_REFUSED), so a host mapped to ~NOTFOUND gets neither a DNS query nor a
# connection, whatever asked for it.

# With --allow-private: the only hosts the confined browser may reach (both walls agree).
CONFINED_HOSTS = ("127.0.0.1", "localhost")
CONFINED_RESOLVER_RULES = "MAP * ~NOTFOUND , " + " , ".join(f"EXCLUDE {h}" for h in CONFINED_HOSTS)

# Real scans: every connection, redirect hops, workers and preconnects included, goes through
# the scanner's SOCKS5 guard proxy on 127.0.0.1 (scanner/resolver.py), which is handed the host
# name unresolved, looks it up once, applies the address guard and connects to the address it
# checked. Chromium itself resolves nothing but the proxy's address; loopback is not exempt
# from the proxy (Chromium's implicit bypass), and WebRTC may not send UDP around it.
PROXY_HOST = "127.0.0.1"
PROXIED_RESOLVER_RULES = f"MAP * ~NOTFOUND , EXCLUDE {PROXY_HOST}"


def guard_proxy_args() -> list[str]:
    """Chromium arguments that send every connection through the guard proxy (started once)."""
    from scanner.resolver import browser_proxy_port

    return [f"--proxy-server=socks5://{PROXY_HOST}:{browser_proxy_port()}",
            "--proxy-bypass-list=<-loopback>",
            f"--host-resolver-rules={PROXIED_RESOLVER_RULES}",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]

CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",  # no update checks, safe-browsing or field trials
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
# After the load event, tag managers keep injecting tags; wait for the network to go quiet,
# but not forever: some pages poll or stream.
SETTLE_TIMEOUT_MS = 5000
NAVIGATION_TIMEOUT_MS = 30000


def browser_problem(executable: str = CHROMIUM) -> str | None:
    """Why the browser tier cannot run here, or None."""
    if not Path(executable).is_file() or not os.access(executable, os.X_OK):
        return f"--browser needs Chromium at {executable}: {INSTALL_HINT}"
    return None


def launch_options(allow_private: bool) -> dict:
    """Playwright launch options for Debian's Chromium; confined to loopback with allow_private."""
    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root (CI machines, containers).
        args.append("--no-sandbox")
    if allow_private:
        args += [f"--host-resolver-rules={CONFINED_RESOLVER_RULES}", "--no-proxy-server"]
    else:
        args += guard_proxy_args()
    # Playwright's launch() gives every browser a fresh temporary profile and deletes it on
    # close; each target then gets its own context (cookies and storage of its own).
    return {"executable_path": CHROMIUM, "headless": True, "args": args,
            "timeout": NAVIGATION_TIMEOUT_MS}


def browser_settings(allow_private: bool) -> dict:
    """Scrapy settings that send requests marked `playwright` through Chromium."""
    handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    abort = "abort_outside_loopback" if allow_private else "abort_unsafe_address"
    return {
        "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch_options(allow_private),
        "PLAYWRIGHT_ABORT_REQUEST": f"scanner.browser.{abort}",
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": NAVIGATION_TIMEOUT_MS,
        # NOTES.md: 8-16 pages at once is about 0.9 GB across Chromium's processes.
        "CONCURRENT_REQUESTS": 8,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
        # The browser keeps its own cookies; Scrapy's jar would send them twice.
        "COOKIES_ENABLED": False,
    }


def is_confined_host(host: str) -> bool:
    return host.strip("[]").lower() in CONFINED_HOSTS


def outside_loopback(url: str) -> bool:
    """True when a confined browser must not fetch this URL (data: and blob: stay in memory)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    return not is_confined_host(parts.hostname or "")


def abort_outside_loopback(request) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST with --allow-private: the page's request was recorded by its
    `request` event; anything beyond loopback is aborted before a connection is made."""
    return outside_loopback(request.url)


@lru_cache(maxsize=4096)
def _host_problem(scheme: str, host: str, port: str) -> str | None:
    # Trackers repeat the same few hosts on every page: resolve each once per scan.
    return url_problem(f"{scheme}://{host}{port}/", allow_private=False)


def unsafe_address(url: str) -> str | None:
    """Why a real scan's browser must not fetch this URL (private or link-local), or None."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return None
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return f"scheme {parts.scheme!r} is not fetched"
    scheme = "https" if parts.scheme in ("https", "wss") else "http"
    port = f":{parts.port}" if parts.port else ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return _host_problem(scheme, host, port)


async def abort_unsafe_address(request) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST for real scans: the address guard applied to every request the
    page makes (a public page must not make the scanner reach 169.254.169.254 or an intranet)."""
    problem = await asyncio.get_running_loop().run_in_executor(None, unsafe_address, request.url)
    return problem is not None


async def instrument_page(page, request) -> None:
    """playwright_page_init_callback: note every request the page makes, in the Scrapy request
    (not the page's own navigation and its redirects: the fetch row records those), and inject
    the instrumentation (scanner/page_behaviour.py) before any script of the page runs."""
    from scanner.page_behaviour import PageObserver, instrument_script

    seen = request.meta.setdefault("browser_requests", [])

    def record(browser_request) -> None:
        if not (browser_request.is_navigation_request() and frame_of(browser_request) is page.main_frame):
            seen.append(browser_request.url)

    page.on("request", record)
    if request.meta.get("observe_behaviour", True):
        observer = PageObserver()
        observer.attach(page)
        request.meta["page_observer"] = observer
        await page.add_init_script(script=instrument_script())


def frame_of(browser_request):
    from playwright.async_api import Error as PlaywrightError

    try:
        return browser_request.frame
    except PlaywrightError:  # a service worker's request belongs to no frame
        return None


async def settle(page) -> None:
    """Let script-injected tags fire after the load event; give up quietly at the cap."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_load_state("networkidle", timeout=SETTLE_TIMEOUT_MS)
    except PlaywrightTimeout:
        pass


def describe_browser_failure(message: str, confined: bool) -> str:
    """One line for a failed page load: Playwright's message without its call log."""
    line = re.sub(r"^\w+\.\w+: ", "", message.strip().splitlines()[0] if message.strip() else "")
    if confined and ("net::ERR_FAILED" in line or "net::ERR_NAME_NOT_RESOLVED" in line):
        line += " (under --allow-private the browser reaches 127.0.0.1 only)"
    elif not confined and "net::ERR_SOCKS_CONNECTION_FAILED" in line:
        url = re.search(r" at (\S+)", line)
        refusal = refusal_for(urlsplit(url.group(1)).hostname or "") if url else None
        line += (f" (refused by the address guard: {refusal})" if refusal
                 else " (refused by the address guard, or unreachable)")
    return f"browser: {line or 'page load failed'}"[:500]


@dataclass(frozen=True)
class BrowserCookie(CookieRecord):
    via: str = "browser"


def cookie_record(cookie: dict) -> BrowserCookie:
    """A cookie from `BrowserContext.cookies()` as the store records cookies."""
    expires = cookie.get("expires")
    if expires is None or expires < 0:
        expires = None  # a session cookie
    else:
        expires = datetime.fromtimestamp(expires, tz=timezone.utc).isoformat()
    return BrowserCookie(
        name=cookie["name"], domain=cookie["domain"].lstrip("."), expires=expires,
        secure=bool(cookie.get("secure")), samesite=cookie.get("sameSite"),
        http_only=bool(cookie.get("httpOnly")),
    )



# ---- evidence files: screenshots and HAR, content-addressed next to the database ----------

ARTIFACT_FOLDERS = {"screenshot": "screenshots", "har": "har"}
MAX_SCREENSHOT_HEIGHT = 16384  # pixels of a full-page screenshot: Chromium's texture limit


def evidence_dir(db_path) -> Path:
    """The folder of evidence files that belongs to a database: `<db>.evidence/`."""
    return Path(f"{db_path}.evidence")


def stored_path(path: Path, db_path) -> str:
    """An evidence file's path as its row keeps it: relative to the database's folder, so the
    database and its evidence move together."""
    return os.path.relpath(path, Path(db_path).resolve().parent)


def write_once(path: Path, data: bytes) -> None:
    """Write an evidence file named by its content, unless it is there: readers never see half
    a file (it is written beside, then renamed)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)


def save_artifact(db_path, kind: str, data: bytes, suffix: str) -> dict:
    """Write data once under <db>.evidence/<kind folder>/<sha256><suffix>; its row's fields."""
    digest = hashlib.sha256(data).hexdigest()
    path = evidence_dir(Path(db_path).resolve()) / ARTIFACT_FOLDERS[kind] / f"{digest}{suffix}"
    write_once(path, data)
    return {"kind": kind, "path": stored_path(path, db_path), "sha256": digest, "bytes": len(data),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def har_path(db_path, context_name: str) -> Path:
    """Where Playwright writes a context's HAR until it is closed and stored by its hash."""
    folder = evidence_dir(Path(db_path).resolve()) / ARTIFACT_FOLDERS["har"]
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", context_name)
    return folder / f".{safe}.{os.getpid()}.{os.urandom(4).hex()}.har.part"


def store_har(db_path, written: Path) -> dict | None:
    """The closed context's HAR moved to its content address; None when none was written."""
    if not written.is_file():
        return None
    try:
        return save_artifact(db_path, "har", written.read_bytes(), ".har")
    finally:
        written.unlink(missing_ok=True)


async def screenshot(page, db_path) -> dict | None:
    """A full-page PNG of what the page shows now, stored by its hash; None when it fails."""
    from playwright.async_api import Error as PlaywrightError

    try:
        height = await page.evaluate("() => document.documentElement.scrollHeight")
        # An endless page would make an enormous image: keep its top part.
        clip = None
        if isinstance(height, (int, float)) and height > MAX_SCREENSHOT_HEIGHT:
            width = (page.viewport_size or {}).get("width", 1280)
            clip = {"x": 0, "y": 0, "width": width, "height": MAX_SCREENSHOT_HEIGHT}
        png = await page.screenshot(full_page=True, clip=clip, timeout=NAVIGATION_TIMEOUT_MS // 2)
    except PlaywrightError:
        return None
    return save_artifact(db_path, "screenshot", png, ".png")


def scan_uses_browser(settings) -> bool:
    """Whether this crawl is part of a `--browser` scan: SCANNER_BROWSER when set, else the
    options the scan recorded (`scans.options`), so every spider of the scan agrees."""
    if settings.get("SCANNER_BROWSER") is not None:
        return settings.getbool("SCANNER_BROWSER")
    db_path, scan_id = settings.get("SCANNER_DB"), settings.getint("SCANNER_SCAN_ID")
    if not db_path or not scan_id or not Path(db_path).is_file():
        return False
    import json
    import sqlite3

    with closing(sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True,
                                 timeout=30)) as conn:
        row = conn.execute("SELECT options FROM scans WHERE id = ?", [scan_id]).fetchone()
    return bool(row and json.loads(row[0] or "{}").get("browser"))


def playwright_handler_settings(allow_private: bool) -> dict:
    """The part of browser_settings() that lets a spider send some requests through Chromium
    and the rest through Scrapy's own downloader (scrapy-playwright falls back to it)."""
    return {key: value for key, value in browser_settings(allow_private).items()
            if key in ("DOWNLOAD_HANDLERS", "TWISTED_REACTOR") or key.startswith("PLAYWRIGHT_")}
