"""Download guards: refuse private, loopback and link-local addresses before any connection."""

from __future__ import annotations

import ipaddress
import socket
import sys
import urllib.request
from urllib.parse import urlsplit

from scrapy import exceptions as scrapy_exceptions
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.datatypes import LocalCache
from twisted.internet.error import DNSLookupError


class UnsafeAddress(IgnoreRequest):
    """A request refused by the address guard; the message says which address and why."""


NAT64 = ipaddress.ip_network("64:ff9b::/96")
# How a failed lookup reaches a downloader middleware (Scrapy 2.13+ wraps Twisted's error).
LOOKUP_FAILURES = (DNSLookupError,
                   *filter(None, [getattr(scrapy_exceptions, "CannotResolveHostError", None)]))


def _embedded_ipv4(addr):
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), else the address."""
    if addr.version != 6:
        return addr
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if addr.sixtofour:
        return addr.sixtofour
    if addr.teredo:
        return addr.teredo[1]
    if addr in NAT64:
        return ipaddress.ip_address(int(addr) & 0xFFFFFFFF)
    return addr


def address_problem(ip: str, allow_private: bool) -> str | None:
    """Why a connection to this IP is refused ('IP is link-local'), or None when it is allowed."""
    refusal = address_refusal(ip, allow_private)
    return None if refusal is None else f"{ip} is {refusal}"


def address_refusal(ip: str, allow_private: bool, loopback_only: bool = False) -> str | None:
    """Why a connection to this IP is refused, in a few words ('link-local'), or None."""
    addr = _embedded_ipv4(ipaddress.ip_address(ip.split("%")[0]))
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast or addr.is_unspecified:
        return "not a unicast address"
    if loopback_only and not addr.is_loopback:
        return "not loopback: this run is confined to loopback"
    if (addr.is_private or addr.is_loopback or not addr.is_global) and not allow_private:
        return "private or loopback: use --allow-private"
    return None


# Why the guarded resolver (scanner/resolver.py) refused each host, for the middleware's error
# message: Twisted reports a resolution without addresses only as "no results".
_refusals: LocalCache[str, str] = LocalCache(1000)


def note_refusal(host: str, refusal: str) -> None:
    _refusals[host.strip("[]").lower()] = refusal


def refusal_for(host: str) -> str | None:
    """Why this process's guarded resolver refused the host ('resolves to IP (reason)'), or None."""
    return _refusals.get(host.strip("[]").lower())


def resolve(host: str) -> list[str]:
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})


def url_problem(url: str, allow_private: bool, resolver=resolve) -> str | None:
    """Why this URL must not be fetched, or None; resolves the host to check every address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme!r} is not fetched"
    host = (parts.hostname or "").strip("[]")
    if not host:
        return "no host"
    try:
        addresses = resolver(host)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    for ip in addresses:
        problem = address_problem(ip, allow_private)
        if problem:
            return f"{host}: {problem}"
    return None


LOOPBACK_NAMES = ("localhost",)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def loopback_problem(url: str) -> str | None:
    """Why a URL is not on 127.0.0.0/8 or ::1, judged without any DNS lookup."""
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return f"{host or url}: not a loopback address (this run is confined to loopback)"


class AddressGuardMiddleware:
    """Downloader middleware: every request, redirects included, passes the address check.

    With SCANNER_LOOPBACK_ONLY (tests, the demo) anything but a loopback literal is refused
    before a DNS lookup, so a stray link, meta refresh or redirect never leaves the machine.
    """

    def __init__(self, allow_private: bool, loopback_only: bool = False):
        self.allow_private = allow_private
        self.loopback_only = loopback_only

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getbool("SCANNER_ALLOW_PRIVATE"),
                   crawler.settings.getbool("SCANNER_LOOPBACK_ONLY"))

    def process_request(self, request, spider=None):
        problem = None
        host = (urlsplit(request.url).hostname or "").strip("[]")
        if self.loopback_only and (problem := loopback_problem(request.url)):
            # An address literal keeps its own reason (link-local, private) when it has one.
            if _is_ip_literal(host):
                problem = url_problem(request.url, self.allow_private) or problem
        elif _is_ip_literal(host) or not host or not _resolver_checks_connections(request):
            problem = url_problem(request.url, self.allow_private)
        else:
            # A host name is checked by the guarded resolver (scanner/resolver.py) when Scrapy
            # connects: checked here, it could resolve elsewhere a moment later.
            problem = _scheme_problem(request.url)
        if problem:
            raise UnsafeAddress(f"refused {request.url}: {problem}")
        return None

    def process_exception(self, request, exception, spider=None):
        """A host the guarded resolver refused fails as 'DNS lookup failed'; say why instead."""
        if isinstance(exception, LOOKUP_FAILURES):
            refusal = refusal_for(urlsplit(request.url).hostname or "")
            if refusal:
                raise UnsafeAddress(f"refused {request.url}: {refusal}")
        return None


def _scheme_problem(url: str) -> str | None:
    scheme = urlsplit(url).scheme
    return None if scheme in ("http", "https") else f"scheme {scheme!r} is not fetched"


def _resolver_checks_connections(request) -> bool:
    """True when Scrapy itself will connect to the address its guarded resolver checked: the
    resolver is installed (a CrawlerProcess), no proxy connects for us, no browser loads it."""
    reactor = sys.modules.get("twisted.internet.reactor")  # importing it would install one
    if not getattr(getattr(reactor, "nameResolver", None), "checks_addresses", False):
        return False
    if request.meta.get("proxy") or request.meta.get("playwright"):
        return False
    parts = urlsplit(request.url)
    proxies = urllib.request.getproxies_environment()
    return not (parts.scheme in proxies
                and not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies))
