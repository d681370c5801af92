"""Escaping for untrusted text (policy sentences, URLs, page titles) in Markdown and HTML links."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from markupsafe import escape

# Markdown renderers pass raw HTML through, so <, > and & are entity-escaped as well.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_text(value) -> str:
    """Text safe inside a Markdown paragraph or table cell: one line, no markup, no raw HTML."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    text = str(escape(text)).replace("&#39;", "'").replace("&#34;", '"')
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value) -> str:
    """Text for a Markdown code span (backticks cannot be escaped inside one, so they are dropped)."""
    return " ".join(str(value or "").replace("`", "'").split())


def safe_href(url) -> str | None:
    """The URL if it is http(s), else None: a hostile page must not plant javascript: links."""
    if not url:
        return None
    scheme = urlsplit(str(url)).scheme.lower()
    return str(url) if scheme in ("http", "https") else None


def _fragment_part(words: list[str]) -> str:
    # Text fragments reserve '-', ',' and '&' as syntax: they must be percent-encoded.
    return quote(" ".join(words), safe="").replace("-", "%2D")


def quote_link(url, sentence) -> str | None:
    """A link to the page scrolled to this sentence (a URL text fragment, #:~:text=start,end)."""
    href = safe_href(url)
    if not href or not sentence:
        return href
    words = str(sentence).split()
    if len(words) <= 8:
        fragment = _fragment_part(words)
    else:
        fragment = f"{_fragment_part(words[:4])},{_fragment_part(words[-4:])}"
    return f"{href.split('#', 1)[0]}#:~:text={fragment}"
