"""A fetched policy document to normalised text (HTML main content, PDF, or plain text) and its
outline: the headings, with offsets into the text.

Longer than 500 lines because the HTML, PDF and plain-text readings end in the same normalised
text and outline of headings, and are kept beside the steps they share.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, SoupStrainer
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from scanner.charset import decode_body
from scanner.document_kind import (  # noqa: F401 (their home was here)
    HTML_TYPES, NON_DOCUMENT_TYPES, TEXT_TYPES, document_kind,
)
from scanner.language import THAI_CHAR, detect_lang
from scanner.sentences import (LEVEL_LEAD_IN, LEVEL_LINE, Heading, clean_title,
                               numbered_heading_level, text_headings)

# Never text: removed wherever they are.
NON_TEXT_TAGS = ("script", "style", "noscript", "svg", "template", "iframe", "button", "select",
                 "input", "textarea", "canvas", "object", "embed", "head", "dialog")
BLOCK_TAGS = frozenset((
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
    "table", "thead", "tbody", "tfoot", "caption", "section", "article", "main", "header",
    "footer", "aside", "nav", "address", "blockquote", "pre", "figure", "figcaption", "hr",
    "details", "summary", "fieldset", "legend", "center", "form", "body", "html",
))
CELL_TAGS = frozenset(("td", "th"))
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")

# Page furniture by class, id or role: menus, cookie banners, share bars. Bare "cookies",
# "consent" or "sharing" are left alone: policies name their own sections that way.
FURNITURE_TOKENS = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|menubar|mega-?menu|breadcrumbs?|sidebar|"
    r"site-?footer|footer|global-?footer|cookie-?(?:banner|bar|notice|consent|law|popup|modal|"
    r"dialog|box|wrapper|container)|cookiebanner|cookieconsent|consent-?(?:banner|bar|manager|"
    r"modal|dialog|popup)|gdpr-?(?:banner|consent|popup)|skip-?link|skip-?to-?content|"
    r"back-?to-?top|share-?(?:bar|buttons|links|icons|tools)|social-?(?:share|links|icons|"
    r"buttons|media-links|follow))(?:$|[-_\s\d])"
    r"|onetrust|ot-sdk|cookiebot|usercentrics|didomi|osano|truste-|qc-cmp|cmplz|cky-consent|"
    r"cc-window|cc-banner|iubenda",
    re.I,
)
# Weaker signs: removed only when they hold no heading (a section header keeps its title).
WEAK_FURNITURE_TOKENS = re.compile(
    r"(?:^|[-_\s])(?:header|site-?header|masthead|topbar|top-?bar|banner|popup|modal|toolbar|"
    r"related|announcement|promo|app-?download|newsletter|subscribe|social|share)"
    r"(?:$|[-_\s\d])",
    re.I,
)
FURNITURE_ROLES = {"navigation", "contentinfo", "search", "dialog", "alertdialog", "menu",
                   "menubar", "complementary"}
CONTENT_SELECTORS = ("main", "[role=main]", "article", "#content", "#main", "#main-content",
                     ".main-content", ".content", ".entry-content", ".post-content")

ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
LINE_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
NOT_LINE_SPACES = ("\x1f", "\u1680")  # a line's whitespace (str.split, \s) LINE_SPACES leaves
TYPOGRAPHIC_QUOTES = (("\u2018", "'"), ("\u2019", "'"), ("\u201a", "'"), ("\u201b", "'"),
                      ("\u201c", '"'), ("\u201d", '"'), ("\u201e", '"'), ("\u2032", "'"))


@dataclass
class ExtractedText:
    text: str
    title: str = ""
    lang: str = "und"
    # The decoded page when the document was HTML, for the links it holds; None for PDF and text.
    html: str | None = field(default=None, repr=False)
    # The outline: scanner.sentences.Heading (start, level, title, end, until), offsets into text.
    headings: list = field(default_factory=list)


class DocumentError(ValueError):
    """A fetched body that yields no policy text; the message says why."""


class PdfError(DocumentError):
    """A PDF that cannot be read."""


class UnsupportedDocument(DocumentError):
    """A body that is neither HTML, PDF nor plain text."""


class _Break(NavigableString):
    """A line break the extractor inserts around block elements."""


def normalise_text(text: str) -> str:
    """NFC, straight quotes, no zero-width characters, single spaces, at most one blank line."""
    if not text.isascii():  # ASCII is NFC and holds none of the characters replaced here
        text = unicodedata.normalize("NFC", text)
        # PDF text often spells SARA AM as NIKHAHIT + SARA AA; both render alike, one hash.
        text = text.replace("\u0e4d\u0e32", "\u0e33")
        text = ZERO_WIDTH.sub("", text)
        # "don’t sell" and "don't sell" are one text to the rules and to the hash.
        for typographic, straight in TYPOGRAPHIC_QUOTES:  # str.replace: far faster than translate
            text = text.replace(typographic, straight)
    lines = [_single_spaced(line) for line in text.splitlines()]
    out, blank = [], False
    for line in lines:
        if not line:
            blank = bool(out)
            continue
        if blank:
            out.append("")
            blank = False
        out.append(line)
    return "\n".join(out)


def _single_spaced(line: str) -> str:
    """The line stripped, each run of LINE_SPACES one " " (str.split: a pass in C, no regex)."""
    if any(space in line for space in NOT_LINE_SPACES):
        return LINE_SPACES.sub(" ", line).strip()
    return " ".join(line.split())


def collapse_whitespace(text: str) -> str:
    r"""re.sub(r"\s+", " ", text), by str.split, which splits at exactly the characters \s matches."""
    words = text.split()
    if not words:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + " ".join(words) + (" " if text[-1].isspace() else "")


# ---------------------------------------------------------------- dispatch


def extract_document(body: bytes, content_type: str | None = None, url: str = "",
                     declared_encoding: str | None = None) -> ExtractedText:
    """Text of a fetched policy, read as PDF, plain text or HTML; DocumentError naming the URL."""
    kind = document_kind(body, content_type)
    if kind is None:
        media_type = (content_type or "").split(";")[0].strip()
        raise UnsupportedDocument(f"{url}: unsupported content type {media_type} "
                                  f"(not HTML, PDF or plain text)")
    if kind == "pdf":
        try:
            return extract_pdf_text(body)
        except PdfError as exc:
            raise PdfError(f"{url}: {exc}") from None
    html = decode_body(body, declared_encoding, content_type)
    if kind == "text":
        text = normalise_text(html)
        return ExtractedText(text=text, lang=detect_lang(text), headings=text_headings(text))
    extracted = extract_html_text(html)
    extracted.html = html
    return extracted


# ---------------------------------------------------------------- HTML


def _text_length(tag: Tag) -> int:
    return len("".join(tag.get_text().split()))  # split() splits at exactly what \s matches


def _furniture_kind(tag: Tag) -> str | None:
    """'strong' or 'weak' when a tag looks like page furniture rather than content."""
    name = tag.name
    if name in ("nav", "aside"):
        return "strong"
    if name in ("header", "footer") and not tag.find_parent(CONTENT_PARENTS):
        return "strong" if name == "footer" else "weak"
    attrs = tag.attrs or {}
    role = str(attrs.get("role", "")).lower()
    if role == "banner":
        return "weak"
    if role in FURNITURE_ROLES or str(attrs.get("aria-modal", "")).lower() == "true":
        return "strong"
    classes = attrs.get("class") or []
    label = " ".join([str(attrs.get("id", "")), *classes, str(attrs.get("aria-label", ""))])
    if not label.strip():
        return None
    if FURNITURE_TOKENS.search(label):
        return "strong"
    if WEAK_FURNITURE_TOKENS.search(label):
        return "weak"
    return None


def remove_furniture(root: Tag) -> None:
    """Drop menus, headers, footers and cookie banners, but never what holds most of the page."""
    total = max(1, _text_length(root))
    for tag in list(root.find_all(True)):
        if tag.decomposed or tag.name in ("html", "body", "main", "article"):
            continue
        kind = _furniture_kind(tag)
        if kind is None:
            continue
        # A wrapper that holds most of the text is the content, whatever its class says
        # (e.g. <div id="cookie-policy"> on a cookie policy page).
        if _text_length(tag) > 0.4 * total and total > 400:
            continue
        if kind == "weak" and tag.find(ANY_HEADING):
            continue
        tag.decompose()


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the main content: <main>, an article, or the body."""
    body = soup.body or soup
    total = max(1, _text_length(body))
    for selector in CONTENT_SELECTORS:
        candidates = soup.select(selector)
        if not candidates:
            continue
        best = max(candidates, key=_text_length)
        if _text_length(best) >= 0.5 * total:
            return best
    return body


def render_blocks(root: Tag) -> str:
    """Text with a line per block element, cells space-separated, source whitespace collapsed."""
    for tag in root.find_all(BLOCKS_AND_BREAKS):
        if tag.name == "br":
            tag.replace_with(_Break("\n"))
        elif tag.name == "li":
            # A visible bullet keeps list items apart as the reader sees them.
            parent = tag.find_parent(LISTS)
            marker = "- "
            if parent is not None and parent.name == "ol":
                items = parent.find_all("li", recursive=False)
                start = int(parent.get("start", 1)) if str(parent.get("start", "1")).isdigit() else 1
                marker = f"{start + items.index(tag)}. " if tag in items else "- "
            tag.insert_before(_Break("\n" + marker))
            tag.insert_after(_Break("\n"))
        elif tag.name in CELL_TAGS:
            tag.insert_before(_Break(" "))
            tag.insert_after(_Break(" "))
        else:
            tag.insert_before(_Break("\n"))
            tag.insert_after(_Break("\n"))
    parts = []
    for node in root.descendants:
        if isinstance(node, _Break):
            parts.append(str(node))
        elif isinstance(node, NavigableString) and not isinstance(
            node, (Comment, Declaration, Doctype, ProcessingInstruction)
        ):
            parts.append(collapse_whitespace(str(node)))
    return "".join(parts)


BOLD_TAGS = ("b", "strong")
# Paragraph-like blocks that may be a title: bold-only, numbered, or opened by a bold lead-in.
TITLE_BLOCKS = ("p", "div", "dt")
LEAD_IN_MAX_WORDS = 8
TITLE_MARK = "\ufdd0"  # a noncharacter: never in a page's text
# The searches made for every page and element, built once: bs4 builds a matcher from find_all's
# arguments on each call (a third of the time of reading a short policy), and uses a
# SoupStrainer given as the name as it is.
NON_TEXT = SoupStrainer(NON_TEXT_TAGS)
ARIA_HIDDEN = SoupStrainer(attrs={"aria-hidden": "true"})
CONTENT_PARENTS = SoupStrainer(["main", "article"])
ANY_HEADING = SoupStrainer(HEADINGS)
BLOCKS_AND_BREAKS = SoupStrainer(BLOCK_TAGS | CELL_TAGS | {"br"})
LISTS = SoupStrainer(["ol", "ul"])
TITLE_CANDIDATES = SoupStrainer(list(HEADINGS) + list(TITLE_BLOCKS))
BLOCKS = SoupStrainer(BLOCK_TAGS)
NOT_TITLE_PARENTS = SoupStrainer(["li", "td", "th", *HEADINGS])
STRINGS = SoupStrainer(string=True)
NUMBER_PREFIX = re.compile(r"^(?:\d{1,2}\.)*\d{1,2}\.?\s+")  # a PDF bookmark often leaves it out


def _flat_text(tag: Tag) -> str:
    """The element's text as render_blocks writes it on one line."""
    return normalise_text(collapse_whitespace(tag.get_text(""))).replace("\n", " ")


def _only_bold(tag: Tag) -> bool:
    """Whether every visible piece of text in the element is inside <b> or <strong>."""
    found = False
    for piece in tag.find_all(STRINGS):
        if not piece.strip() or isinstance(piece, Comment):
            continue
        node = piece.parent
        while node is not None and node is not tag and node.name not in BOLD_TAGS:
            node = node.parent
        if node is None or node is tag:
            return False
        found = True
    return found


def _lead_in(tag: Tag) -> str | None:
    """The bold words opening a paragraph ("<b>Children's Privacy.</b> We do not ..."), if short."""
    first = next((c for c in tag.children if not (isinstance(c, NavigableString) and not c.strip())),
                 None)
    if not isinstance(first, Tag) or first.name not in BOLD_TAGS:
        return None
    title = _flat_text(first).strip()
    if not title or len(title.split()) > LEAD_IN_MAX_WORDS or not title[0].isupper():
        return None
    return title


def html_titles(root: Tag) -> list[tuple[int, str, bool, Tag]]:
    """(level, title text, is a lead-in, element) of the content's headings in document order:
    h1-h6 and role=heading, bold-only paragraphs, numbered paragraphs, bold lead-ins."""
    titles = []
    for tag in root.find_all(TITLE_CANDIDATES):
        if tag.name in HEADINGS or str(tag.get("role", "")).lower() == "heading":
            level = int(tag.name[1]) if tag.name in HEADINGS else int(
                tag.get("aria-level")) if str(tag.get("aria-level", "")).isdigit() else 2
            text = _flat_text(tag).strip()
            if text:
                titles.append((min(max(level, 1), 6), text, False, tag))
            continue
        if tag.find(BLOCKS) or tag.find_parent(NOT_TITLE_PARENTS):
            continue
        text = _flat_text(tag).strip()
        if not text or len(text) > 160:
            continue
        level = numbered_heading_level(text)
        if level is None and len(text) <= 120 and text[-1] not in ".,;!" and _only_bold(tag):
            level = LEVEL_LINE
        if level is not None:
            titles.append((level, text, False, tag))
            continue
        lead = _lead_in(tag)
        if lead is not None and len(text) > len(lead) + 1:
            titles.append((LEVEL_LEAD_IN, lead, True, tag))
    return titles


def _heading(text: str, start: int, line: str, level: int, title: str, lead_in: bool):
    """The Heading of a title shown at the start of a line of text; None when it is not there."""
    if lead_in:
        if not line.startswith(title) or len(line) <= len(title):
            return None
        end = start + len(title)
        if text[end:end + 1] in (".", ":"):
            end += 1
        return Heading(start, level, clean_title(title), end, start + len(line))
    return Heading(start, level, clean_title(title), start + len(line))


def marked_titles(text: str, marked: str, titles) -> list[Heading]:
    """Headings where the rendered text showed each title's mark (TITLE_MARK at the start of its
    element): the k-th non-blank line of `marked`, marks removed, is the k-th of `text`."""
    lines, position = [], 0
    for line in text.split("\n"):
        if line:
            lines.append((position, line))
        position += len(line) + 1
    headings, k, pending, number = [], 0, [], 0
    for line in marked.split("\n"):
        marks = line.count(TITLE_MARK)
        cleaned = line.replace(TITLE_MARK, "").strip()
        # a mark alone on its line (a title whose text sits in a nested block) heads the next one
        pending += [titles[i] for i in range(number, number + marks)
                    if not cleaned or line.lstrip().startswith(TITLE_MARK * marks)]
        number += marks
        if not cleaned:
            continue
        if k < len(lines):
            start, shown = lines[k]
            for level, title, lead_in, _tag in pending:
                heading = _heading(text, start, shown, level, title, lead_in)
                if heading is not None:
                    headings.append(heading)
        pending, k = [], k + 1
    return headings


def place_titles(text: str, titles) -> list[Heading]:
    """Headings at the lines of text showing the titles, matched in order; a title not found
    (or found only out of order) is left out."""
    lines, position = [], 0
    for line in text.split("\n"):
        lines.append((position, line))
        position += len(line) + 1
    headings, index = [], 0
    for level, title, lead_in, *_element in titles:
        for ahead in range(index, len(lines)):
            start, line = lines[ahead]
            if line == title or NUMBER_PREFIX.sub("", line, 1) == title or (
                    lead_in and line.startswith(title) and len(line) > len(title)):
                headings.append(_heading(text, start, line, level, title, lead_in)
                                if lead_in else Heading(start, level, clean_title(title),
                                                        start + len(line)))
                index = ahead + 1
                break
    return headings


def extract_html_text(html: str) -> ExtractedText:
    """Main content of a policy page: headings and paragraphs, without the site's furniture."""
    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    html_tag = soup.find("html")
    declared_lang = html_tag.get("lang") if html_tag else None
    for tag in soup(NON_TEXT):
        tag.decompose()
    for tag in soup.find_all(ARIA_HIDDEN):
        # Icons and decorative duplicates; a hidden accordion panel with real text stays.
        if not tag.decomposed and _text_length(tag) < 40:
            tag.decompose()
    remove_furniture(soup.body or soup)
    root = _content_root(soup)
    titles = html_titles(root)  # before render_blocks writes its line breaks into the tree
    # Each title's element starts with a mark, so a title is placed where it was rendered, not
    # at an earlier line with the same words (a table of contents); the text is the unmarked one.
    marked = bool(titles) and TITLE_MARK not in html
    for *_title, element in titles if marked else ():
        element.insert(0, NavigableString(TITLE_MARK))
    rendered = render_blocks(root)
    text = normalise_text(rendered.replace(TITLE_MARK, "") if marked else rendered)
    if not titles:
        headings = text_headings(text)
    elif marked:
        headings = marked_titles(text, normalise_text(rendered), titles)
    else:
        headings = place_titles(text, titles)
    if not title:
        h1 = root.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else ""
    return ExtractedText(text=text, title=re.sub(r"\s+", " ", title).strip(),
                         lang=detect_lang(text, declared_lang), headings=headings)


# ---------------------------------------------------------------- PDF


def reflow_pdf_lines(text: str) -> str:
    """Join the hard line breaks of a PDF inside a sentence; keep breaks after full stops."""
    out: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if out and stripped and out[-1]:
            previous = out[-1]
            continues = (
                not re.search(r"[.!?:;。\u0e2f]$|^\W*$", previous)
                and not re.match(r"^([-•●▪◦*·]|\(?\d{1,2}[.)]|\(?[a-z][.)]\s)", stripped)
                and (stripped[0].islower() or THAI_CHAR.match(stripped[0]) or stripped[0] in "(,")
            )
            if continues:
                if previous.endswith("-") and stripped[0].islower():
                    out[-1] = previous[:-1] + stripped
                else:
                    out[-1] = previous + " " + stripped
                continue
        out.append(stripped)
    return "\n".join(out)


def extract_pdf_text(body: bytes) -> ExtractedText:
    """Text of a PDF policy, lines rejoined into sentences; PdfError when unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    except (PdfReadError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
        raise PdfError(f"unreadable PDF: {type(exc).__name__}: {exc}"[:300]) from None
    text = normalise_text(reflow_pdf_lines(normalise_text("\n\n".join(pages))))
    titles = pdf_outline(reader)
    headings = place_titles(text, titles) if titles else []
    return ExtractedText(text=text, title=title.strip(), lang=detect_lang(text),
                         headings=headings or text_headings(text))


def pdf_outline(reader) -> list[tuple[int, str, bool]]:
    """(depth, title, False) of the PDF's bookmarks in order; none when it has no outline or
    the outline cannot be read (the text's title lines are used then)."""
    from pypdf.errors import PdfReadError

    titles: list[tuple[int, str, bool]] = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            elif getattr(item, "title", None):
                title = " ".join(normalise_text(str(item.title)).split())
                if title:
                    titles.append((min(depth, 6), title, False))

    try:
        walk(reader.outline, 1)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return []
    return titles
