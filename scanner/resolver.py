"""Scrapy's host resolver behind the address guard: each host is looked up once, every address
is checked, and only checked addresses reach the connection, so no second lookup can rebind it."""

from __future__ import annotations

from twisted.internet import defer, threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from zope.interface import implementer

from scrapy.utils.datatypes import LocalCache

from scanner import safety
from scanner.options import loopback_forced

# Why each refused host was refused, for the middleware's error message: Twisted reports a
# resolution without addresses only as "no results for hostname lookup".
_refusals: LocalCache[str, str] = LocalCache(1000)


def lookup(host: str) -> list[str]:
    """The host's addresses from the system resolver (blocking; a literal is its own address)."""
    return safety.resolve(host)


def refusal_for(host: str) -> str | None:
    """Why this process's guarded resolver refused the host ('resolves to IP (reason)'), or None."""
    return _refusals.get(host.strip("[]").lower())


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str):
        self.name = name

    def cancel(self) -> None:
        pass  # the lookup runs in a thread and cannot be stopped; its answer is cached


@implementer(IHostnameResolver)
class GuardedResolver:
    """TWISTED_DNS_RESOLVER: the address policy of scanner.safety applied to what is connected to.

    A host is refused when any of its addresses is (link-local always; private and loopback
    without SCANNER_ALLOW_PRIVATE; anything but loopback under SCANNER_LOOPBACK_ONLY). Answers,
    refusals included, are kept for the process, so a retry or a later page cannot rebind."""

    def __init__(self, reactor, allow_private: bool, loopback_only: bool, cache_size: int = 10000):
        self.reactor = reactor
        self.allow_private = allow_private
        self.loopback_only = loopback_only
        self.answers: LocalCache[str, tuple[list[str], str | None]] = LocalCache(max(cache_size, 1))
        # Connections that ask while a host's lookup runs wait for it instead of looking again.
        self.waiting: dict[str, list[defer.Deferred]] = {}

    @classmethod
    def from_crawler(cls, crawler, reactor):
        # Scrapy passes the CrawlerProcess: one resolver for the process, with its settings.
        settings = crawler.settings
        return cls(reactor, settings.getbool("SCANNER_ALLOW_PRIVATE"),
                   settings.getbool("SCANNER_LOOPBACK_ONLY") or loopback_forced(),
                   settings.getint("DNSCACHE_SIZE", 10000))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def checked_addresses(self, host: str) -> tuple[list[str], str | None]:
        """The host's addresses, looked up once, or none and why they are refused."""
        try:
            addresses = lookup(host)
        except (OSError, UnicodeError):
            return [], None  # reported by Twisted as a failed DNS lookup
        for ip in addresses:
            reason = safety.address_refusal(ip, self.allow_private, self.loopback_only)
            if reason:
                return [], f"resolves to {ip} ({reason})"
        return addresses, None

    def _remember(self, answer, key: str):
        if isinstance(answer, tuple):
            addresses, refusal = answer
            if addresses or refusal:
                self.answers[key] = answer
            if refusal:
                _refusals[key] = refusal
        for waiter in self.waiting.pop(key, []):
            waiter.callback(answer) if isinstance(answer, tuple) else waiter.errback(answer)
        return answer

    def resolveHostName(self, resolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes=None, transportSemantics: str = "TCP"):
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        key = hostName.strip("[]").lower()
        if key in self.answers:
            answered = defer.succeed(self.answers[key])
        elif key in self.waiting:
            answered = defer.Deferred()
            self.waiting[key].append(answered)
        else:
            self.waiting[key] = []
            answered = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                                 self.checked_addresses, key)
            answered.addBoth(self._remember, key)

        def deliver(answer):
            for ip in answer[0]:
                address = _twisted_address(ip, portNumber)
                if addressTypes is None or type(address) in addressTypes:
                    resolutionReceiver.addressResolved(address)

        answered.addCallback(deliver)
        answered.addBoth(lambda _: resolutionReceiver.resolutionComplete())
        return resolution


def _twisted_address(ip: str, port: int):
    if ":" in ip:
        return IPv6Address("TCP", ip.split("%")[0], port)
    return IPv4Address("TCP", ip, port)
