"""Files fetched outside a crawl (an app's APK, a public tracker list): streamed to disk behind
the address guard, with a size and time limit, written whole or not at all; and file hashes."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHUNK_BYTES = 1 << 20


class DownloadError(ValueError):
    """A download that was refused or failed; str() is one line naming the URL."""


def file_sha256(path) -> str:
    """sha256 of a file's bytes, read in chunks (APKs run to hundreds of MB)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def size_text(size: int) -> str:
    return f"{size} bytes" if size < 1 << 20 else f"{size / (1 << 20):.1f} MB"


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect target passes the same address check as the first URL, before connecting."""

    def __init__(self, url: str, check):
        self.url, self.check = url, check

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        problem = self.check(newurl)
        if problem:
            raise DownloadError(f"{self.url}: redirect to {newurl} refused: {problem}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _checked_connect(url: str, check):
    """socket.create_connection for http.client that connects only to addresses `check` allows,
    from one lookup: the host is not resolved again after the check (no DNS rebinding)."""
    from scanner.safety import resolve

    def connect(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
        host, port = address
        try:
            addresses = resolve(host)
        except OSError as exc:
            raise DownloadError(f"{url}: cannot resolve {host}: {exc.strerror or exc}") from None
        for ip in addresses:
            problem = check(f"http://{f'[{ip}]' if ':' in ip else ip}:{port}/")
            if problem:
                raise DownloadError(f"{url}: refused: {host} resolves to {problem}")
        failure = OSError(f"no address for {host}")
        for ip in addresses:
            try:
                return socket.create_connection((ip, port), timeout, source_address)
            except OSError as exc:
                failure = exc
        raise failure

    return connect


def _connection_class(base, connect):
    def make(host, **kwargs):
        connection = base(host, **kwargs)
        # http.client's hook for opening the socket; HTTPS keeps the host name for SNI and
        # certificate checks, and the Host header is the URL's.
        connection._create_connection = connect
        return connection
    return make


class _CheckedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connect):
        super().__init__()
        self.connect = connect

    def http_open(self, req):
        return self.do_open(_connection_class(http.client.HTTPConnection, self.connect), req)


class _CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connect):
        super().__init__()
        self.connect = connect

    def https_open(self, req):
        return self.do_open(_connection_class(http.client.HTTPSConnection, self.connect), req,
                            context=self._context)


def stream_to_file(url: str, destination: Path, *, check, max_bytes: int, timeout: float,
                   user_agent: str) -> str:
    """Stream `url` into `destination`; return its sha256. `check(url)` says why an address is
    refused (or None); it is asked for the URL and every redirect before any connection."""
    problem = check(url)
    if problem:
        raise DownloadError(f"{url}: refused: {problem}")
    # No proxy, and each connection goes to an address checked at connection time: the address
    # checked must be the address connected to.
    connect = _checked_connect(url, check)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         _GuardedRedirects(url, check),
                                         _CheckedHTTPHandler(connect), _CheckedHTTPSHandler(connect))
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    deadline = time.monotonic() + timeout
    digest = hashlib.sha256()
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=destination.parent, prefix=destination.name,
                                       suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                response = opener.open(request, timeout=timeout)
            except DownloadError:
                raise
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, DownloadError):
                    raise exc.reason from None
                raise DownloadError(f"{url}: {exc.reason}") from None
            except OSError as exc:
                raise DownloadError(f"{url}: {exc}") from None
            with response:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise DownloadError(f"{url}: {size_text(int(declared))} declared, over the "
                                        f"limit of {size_text(max_bytes)}")
                size = 0
                while True:
                    if time.monotonic() > deadline:
                        raise DownloadError(f"{url}: not downloaded within {timeout:g} s")
                    try:
                        block = response.read(CHUNK_BYTES)
                    except OSError as exc:
                        raise DownloadError(f"{url}: {exc}") from None
                    if not block:
                        break
                    size += len(block)
                    if size > max_bytes:
                        raise DownloadError(f"{url}: over the limit of {size_text(max_bytes)}; "
                                            "stopped")
                    digest.update(block)
                    out.write(block)
        if size == 0:
            raise DownloadError(f"{url}: empty response")
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return digest.hexdigest()
