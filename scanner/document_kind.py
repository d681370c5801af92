"""What a fetched body is to the policy reader (scanner.extract): 'pdf', 'text' or 'html', from
its Content-Type and first bytes. Apart from the extractor so that a worker of `scanner scan`,
which only decides whether a policy page's text is the writer's to extract (spiders/policy.py),
does not import BeautifulSoup to know."""

from __future__ import annotations

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = ("text/plain", "text/markdown", "text/x-markdown")
# Media a policy is never written in: refused even when the body happens to start with '<' (SVG).
NON_DOCUMENT_TYPES = ("image/", "audio/", "video/", "font/", "model/")


def document_kind(body: bytes, content_type: str | None) -> str | None:
    """'pdf', 'text' or 'html' from the Content-Type and the first bytes; None when unsupported."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if "pdf" in media_type or body[:5] == b"%PDF-":
        return "pdf"
    if media_type in TEXT_TYPES:
        return "text"
    if media_type in HTML_TYPES or not media_type:
        return "html"
    if media_type.startswith(NON_DOCUMENT_TYPES):
        return None
    # Servers send pages as application/octet-stream or text/xml too: markup is read as HTML.
    if body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"<":
        return "html"
    return None
