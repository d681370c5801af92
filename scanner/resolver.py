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


def lookup(host: str) -> list[str]:
    """The host's addresses from the system resolver (blocking; a literal is its own address)."""
    return safety.resolve(host)


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

    checks_addresses = True  # tells the address guard's middleware that names are checked here

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

    def answer(self, host: str) -> tuple[list[str], str | None]:
        """checked_addresses, kept for the process like resolveHostName's (blocking)."""
        key = host.strip("[]").lower()
        if key not in self.answers:
            self._remember(self.checked_addresses(key), key)
        return self.answers.get(key, ([], None))

    def _remember(self, answer, key: str):
        if isinstance(answer, tuple):
            addresses, refusal = answer
            if addresses or refusal:
                self.answers[key] = answer
            if refusal:
                safety.note_refusal(key, refusal)
        for waiter in self.waiting.pop(key, []):
            if isinstance(answer, tuple):
                waiter.callback(answer)
            else:
                waiter.errback(answer)
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


# ---- the browser's connections: a SOCKS5 proxy on loopback that applies the same policy ----

SOCKS_VERSION = 5
SOCKS_REPLY = {"ok": 0, "refused_by_rules": 2, "unreachable": 4, "connection_refused": 5,
               "unsupported_command": 7, "unsupported_address": 8}


class GuardProxy:
    """A SOCKS5 proxy on 127.0.0.1 for Chromium: Chromium hands it every host name unresolved,
    and it connects only to addresses `checked_addresses(host)` allowed, from one lookup."""

    def __init__(self, checked_addresses, connect_timeout: float = 30.0):
        self.checked_addresses = checked_addresses
        self.connect_timeout = connect_timeout
        self.port: int | None = None

    def start(self) -> int:
        """Serve from a thread of its own for the life of the process; the port it listens on."""
        import asyncio
        import threading

        ready = threading.Event()

        def run():
            loop = asyncio.new_event_loop()
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="guard-proxy", daemon=True).start()
        ready.wait(10)
        if self.port is None:
            raise OSError("the browser's address-guard proxy did not start")
        return self.port

    async def _serve(self, reader, writer) -> None:
        import asyncio

        upstream = None
        try:
            version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if version != SOCKS_VERSION or 0 not in methods:
                writer.write(bytes([SOCKS_VERSION, 0xFF]))  # only "no authentication"
                return
            writer.write(bytes([SOCKS_VERSION, 0]))
            _, command, _, address_type = await reader.readexactly(4)
            host = await _read_socks_host(reader, address_type)
            port = int.from_bytes(await reader.readexactly(2), "big")
            if host is None:
                return await _reply(writer, "unsupported_address")
            if command != 1:  # CONNECT only: no BIND, no UDP
                return await _reply(writer, "unsupported_command")
            loop = asyncio.get_running_loop()
            try:
                addresses, refusal = await loop.run_in_executor(None, self.checked_addresses, host)
            except Exception:  # a host that cannot be looked up is unreachable, never a crash
                addresses, refusal = [], None
            if refusal:
                safety.note_refusal(host, refusal)  # for the page's error message
                return await _reply(writer, "refused_by_rules")
            if not addresses:
                return await _reply(writer, "unreachable")
            for ip in addresses:
                try:
                    upstream = await asyncio.wait_for(asyncio.open_connection(ip, port),
                                                      self.connect_timeout)
                    break
                except (OSError, asyncio.TimeoutError):
                    continue
            if upstream is None:
                return await _reply(writer, "connection_refused")
            await _reply(writer, "ok")
            await asyncio.gather(_pipe(reader, upstream[1]), _pipe(upstream[0], writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            for stream in (writer, upstream[1] if upstream else None):
                if stream is not None:
                    stream.close()


async def _read_socks_host(reader, address_type: int) -> str | None:
    import ipaddress

    if address_type == 1:
        return str(ipaddress.IPv4Address(await reader.readexactly(4)))
    if address_type == 4:
        return str(ipaddress.IPv6Address(await reader.readexactly(16)))
    if address_type == 3:
        length = (await reader.readexactly(1))[0]
        return (await reader.readexactly(length)).decode("ascii")
    return None


async def _reply(writer, outcome: str) -> None:
    # The bound address is not used by Chromium: 0.0.0.0:0.
    writer.write(bytes([SOCKS_VERSION, SOCKS_REPLY[outcome], 0, 1, 0, 0, 0, 0, 0, 0]))
    await writer.drain()


async def _pipe(reader, writer) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        if writer.can_write_eof():
            try:
                writer.write_eof()
            except OSError:
                pass


_browser_proxy: GuardProxy | None = None


def browser_proxy_port() -> int:
    """The process's guard proxy for real-scan browsers (started on first use): the address
    policy of a scan without --allow-private, answers kept for the process."""
    global _browser_proxy
    if _browser_proxy is None:
        policy = GuardedResolver(None, allow_private=False, loopback_only=loopback_forced())
        proxy = GuardProxy(policy.answer)
        proxy.start()
        _browser_proxy = proxy
    return _browser_proxy.port
