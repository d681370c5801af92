"""Serve the bundled demo sites, each on its own loopback port, from scanner/demo/sites/.

A site folder may hold `_site.yaml` with: encoding (re-encode its HTML, e.g. cp874 for a Thai
site), cookies (Set-Cookie headers sent with every HTML page) and redirects (path -> path).
A file `NAME.pdf.txt` is served as the PDF `NAME.pdf`, rendered by scanner.demo.pdf. In an
HTML page, `{{url:SITE}}` becomes the base URL another demo site is served on (the demo store
listing links to the app's own site, whatever port it got).
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from scanner.demo.pdf import text_to_pdf
from scanner.paths import DEMO_SITES_DIR, TARGETS_DIR

DEMO_TARGETS_FILE = TARGETS_DIR / "demo.yaml"
MANIFEST = DEMO_SITES_DIR.parent / "sites.yaml"
SITE_URL = re.compile(rb"\{\{url:([a-z0-9-]+)\}\}")


class DemoPortError(OSError):
    """A demo site's port is taken; the message is the one line shown to the user."""


def demo_sites() -> list[dict]:
    """[{id, port, dir}] from the manifest; the demo targets file uses the same ports."""
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["sites"]


def make_handler(site_dir: Path, urls: dict | None = None):
    """A request handler serving `site_dir`; `urls` ({site id: base URL}) fills `{{url:SITE}}`."""
    urls = {} if urls is None else urls
    options = {}
    if (site_dir / "_site.yaml").exists():
        options = yaml.safe_load((site_dir / "_site.yaml").read_text(encoding="utf-8")) or {}

    class SiteHandler(BaseHTTPRequestHandler):
        server_version = "DemoSite/1.0"

        def log_message(self, *args):  # keep the demo's output to the summary
            pass

        def do_GET(self):
            path = unquote(urlsplit(self.path).path)
            redirect = (options.get("redirects") or {}).get(path)
            if redirect:
                self.send_response(301)
                self.send_header("Location", redirect)
                self.end_headers()
                return
            if path.endswith("/"):
                path += "index.html"
            body, content_type = self.load(path)
            if body is None:
                body = b"<html><body><h1>Not found</h1></body></html>"
                self.send_response(404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
            else:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if content_type.startswith("text/html"):
                    for cookie in options.get("cookies") or []:
                        self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def load(self, path: str):
            file = (site_dir / path.lstrip("/")).resolve()
            if not str(file).startswith(str(site_dir.resolve())) or file.name.startswith("_"):
                return None, None
            if path.endswith(".pdf"):
                source = file.with_name(file.name + ".txt")
                if source.is_file():
                    text = source.read_text(encoding="utf-8")
                    title = text.splitlines()[0] if text else ""
                    return text_to_pdf(text, title=title), "application/pdf"
            if not file.is_file():
                return None, None
            content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            body = file.read_bytes()
            if content_type == "text/html":
                body = SITE_URL.sub(lambda m: urls.get(m.group(1).decode(), "").rstrip("/").encode(),
                                    body)
                encoding = options.get("encoding", "utf-8")
                if encoding != "utf-8":
                    body = body.decode("utf-8").encode(encoding)
                content_type = f"text/html; charset={options.get('charset', encoding)}"
            return body, content_type

    return SiteHandler


@contextlib.contextmanager
def serve_demo_sites(host: str = "127.0.0.1", ports: dict | None = None):
    """Serve every demo site in threads; yields {site id: base URL}. Port 0 picks a free port."""
    servers, urls = [], {}
    try:
        for site in demo_sites():
            port = site["port"] if ports is None else ports.get(site["id"], 0)
            try:
                server = ThreadingHTTPServer((host, port),
                                             make_handler(DEMO_SITES_DIR / site["dir"], urls))
            except OSError as exc:
                raise DemoPortError(f"cannot serve demo site {site['id']} on {host}:{port}: "
                                    f"{exc.strerror} (is another demo running?)") from None
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            urls[site["id"]] = f"http://{host}:{server.server_address[1]}/"
        yield urls
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def main() -> None:  # python -m scanner.demo.server: serve until interrupted
    import time

    with serve_demo_sites() as urls:
        for site_id, url in urls.items():
            print(f"{site_id:20} {url}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
