"""Policy text: charsets, main-content extraction, PDF, language and sentence offsets."""

import pytest

from scanner.demo.pdf import text_to_pdf
from scanner.extract import UnsupportedDocument, extract_document
from scanner.text import (
    PdfError, decode_body, detect_lang, extract_html_text, extract_pdf_text, normalise_text,
    split_sentences,
)

THAI = "นโยบายความเป็นส่วนตัว เราเก็บรวบรวมข้อมูลส่วนบุคคลของเด็กเพื่อให้บริการ และเราไม่ขายข้อมูลของท่าน"
THAI_PAGE = f"<html><head><title>นโยบาย</title></head><body><main><p>{THAI}</p></main></body></html>"


def sentences(text, lang="en"):
    return [text[s:e] for s, e in split_sentences(text, lang)]


# ---------------------------------------------------------------- charsets


def test_utf8_declared_and_undeclared():
    body = THAI_PAGE.encode("utf-8")
    assert THAI in decode_body(body, content_type="text/html; charset=utf-8")
    assert THAI in decode_body(body)


def test_cp874_declared_in_header_or_meta():
    body = THAI_PAGE.encode("cp874")
    assert THAI in decode_body(body, content_type="text/html; charset=windows-874")
    assert THAI in decode_body(body, content_type="text/html; charset=TIS-620")
    with_meta = THAI_PAGE.replace("<head>", '<head><meta charset="tis-620">').encode("cp874")
    assert THAI in decode_body(with_meta, content_type="text/html")


@pytest.mark.parametrize("label", ["utf-8", "iso-8859-1", "windows-1252"])
def test_cp874_mislabelled_is_still_read_as_thai(label):
    body = THAI_PAGE.encode("cp874")
    text = decode_body(body, content_type=f"text/html; charset={label}")
    assert THAI in text
    assert "\ufffd" not in text


def test_meta_charset_wrong_but_bytes_are_utf8():
    body = THAI_PAGE.replace("<head>", '<head><meta charset="iso-8859-1">').encode("utf-8")
    assert THAI in decode_body(body, content_type="text/html")


def test_latin1_page_stays_latin1():
    body = "<p>Politique de confidentialité: données personnelles</p>".encode("latin-1")
    assert "confidentialité" in decode_body(body, content_type="text/html; charset=iso-8859-1")


def test_bom_wins_over_a_wrong_label():
    body = b"\xef\xbb\xbf" + THAI_PAGE.encode("utf-8")
    assert THAI in decode_body(body, content_type="text/html; charset=windows-874")


# ---------------------------------------------------------------- extraction

PAGE = """<!doctype html><html lang="en"><head><title>Privacy Policy | Kidz</title>
<style>.x{color:red}</style><script>var tracking = "We sell data";</script></head>
<body>
<div id="onetrust-banner-sdk" class="otFlat"><p>We use cookies to improve your experience.
  <button>Accept all</button></p></div>
<header class="site-header"><a href="/">Kidz home</a><nav><ul><li><a href="/games">Games</a></li>
  <li><a href="/shop">Shop</a></li></ul></nav></header>
<div class="breadcrumbs"><a href="/">Home</a> &gt; Legal</div>
<main>
  <article>
    <header><h1>Privacy Policy</h1><p>Last updated: 1 May 2025</p></header>
    <div class="section-header"><h2>Information we collect</h2></div>
    <p>We collect your child's
       first name and age.</p>
    <h2>Sharing</h2>
    <p>We share information with:</p>
    <ul><li>hosting providers</li><li>payment processors</li></ul>
    <table><tr><th>Data</th><th>Purpose</th></tr><tr><td>Email</td><td>Login</td></tr></table>
  </article>
  <aside class="share-bar">Share on Facebook</aside>
</main>
<div class="cookie-consent" role="dialog">Manage cookie preferences</div>
<footer><p>&copy; 2025 Kidz Ltd. All rights reserved.</p><a href="/terms">Terms</a></footer>
</body></html>"""


def test_extraction_drops_furniture_and_cookie_banners():
    text = extract_html_text(PAGE).text
    for furniture in ("We use cookies to improve", "Accept all", "Kidz home", "Games", "Shop",
                      "Legal", "Share on Facebook", "Manage cookie", "All rights reserved",
                      "Terms", "We sell data", "color:red"):
        assert furniture not in text, furniture


def test_extraction_keeps_headings_paragraphs_lists_and_tables_on_their_own_lines():
    extracted = extract_html_text(PAGE)
    lines = extracted.text.splitlines()
    for heading in ("Privacy Policy", "Information we collect", "Sharing"):
        assert heading in lines
    assert "Last updated: 1 May 2025" in lines
    # source line breaks inside a paragraph are whitespace, not sentence ends
    assert "We collect your child's first name and age." in lines
    assert "- hosting providers" in lines and "- payment processors" in lines
    assert "Data Purpose" in lines and "Email Login" in lines
    assert extracted.title == "Privacy Policy | Kidz"
    assert extracted.lang == "en"


def test_a_cookie_policy_page_is_not_dropped_as_a_cookie_banner():
    body = " ".join(["Cookies are small files stored by your browser."] * 30)
    page = f"""<html><body><div class="cookie-banner">Accept cookies?</div>
    <div id="cookie-policy" class="cookie-policy-content"><h1>Cookie Policy</h1><p>{body}</p></div>
    </body></html>"""
    text = extract_html_text(page).text
    assert "Cookie Policy" in text and "small files" in text
    assert "Accept cookies?" not in text


def test_a_page_wrapped_in_one_form_keeps_its_text():
    # ASP.NET WebForms wrap the whole page in <form>; that is not a search box.
    body = " ".join(["We collect the email address of a parent to verify consent."] * 20)
    page = f"<html><body><form id='form1'><div class='content'><h1>Privacy</h1><p>{body}</p></div></form></body></html>"
    assert "verify consent" in extract_html_text(page).text


def test_thai_page_language_and_text():
    extracted = extract_html_text(decode_body(THAI_PAGE.encode("cp874"),
                                              content_type="text/html; charset=windows-874"))
    assert extracted.lang == "th"
    assert THAI in extracted.text


def test_language_detection():
    assert detect_lang("We collect your personal information and we may share it with partners.") == "en"
    assert detect_lang(THAI) == "th"
    assert detect_lang("ok") == "und"
    spanish = "Recopilamos datos personales de los niños con el consentimiento de sus padres y tutores."
    assert detect_lang(spanish, declared="es-ES") == "es"


def test_normalised_text_is_stable_under_whitespace_and_zero_width_noise():
    a = normalise_text("Privacy  Policy\n\n\n\nWe\u200b collect\u00a0data. ")
    b = normalise_text("Privacy Policy \n \nWe collect data.")
    assert a == b == "Privacy Policy\n\nWe collect data."
    # SARA AM written as NIKHAHIT + SARA AA (common in PDFs) is the same text
    assert normalise_text("การดํา\u0e4d\u0e32เนินการ".replace("ดํา", "ด")) == normalise_text("การดำเนินการ")


@pytest.mark.parametrize("text", [
    "", " ", "a", " a ", "a  b", "a\tb", "a\u00a0 b", "\x1fa\x1f  b\u1680", "a\u1680\u1680b ",
    "\u2003a\u3000\u3000b\u202f", "a\x0bb\x1cc\u2028d", "\u201cdon\u2019t\u201d \u2018sell\u2019",
])
def test_whitespace_shortcuts_give_what_the_regular_expressions_give(text):
    import re

    from scanner.extract import collapse_whitespace

    assert collapse_whitespace(text) == re.sub(r"\s+", " ", text)
    quotes = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
    lines = [re.sub(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ", line).strip()
             for line in text.translate(quotes).splitlines()]
    assert normalise_text(text) == "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- PDF


def test_pdf_text_is_extracted_and_lines_are_rejoined():
    source = ("Star Scribes Privacy Policy\n"
              "We collect each student's name, class, school and the stories and drawings they "
              "write, and we keep them for as long as the school account stays open.\n"
              "We do not sell student personal information.")
    extracted = extract_pdf_text(text_to_pdf(source, title="Star Scribes Privacy Policy"))
    assert extracted.title == "Star Scribes Privacy Policy"
    assert extracted.lang == "en"
    # the PDF wraps the long sentence over two lines; the text holds it as one
    assert ("We collect each student's name, class, school and the stories and drawings they "
            "write, and we keep them for as long as the school account stays open.") in extracted.text
    assert "We do not sell student personal information." in extracted.text.splitlines()


def test_unreadable_pdf_raises_a_clear_error():
    with pytest.raises(PdfError, match="unreadable PDF"):
        extract_pdf_text(b"%PDF-1.4 this is not really a pdf")


# ---------------------------------------------------------------- sentences


def test_english_splitter_survives_abbreviations():
    text = ("We collect data, e.g. your name, i.e. the one you give us. Acme Inc. is based in the "
            "U.S. and complies with COPPA. We use cookies, web beacons, etc. to count visits. "
            "Write to Dr. Smith, No. 5 Main St. in Bangkok! Questions? Ask us.")
    assert sentences(text) == [
        "We collect data, e.g. your name, i.e. the one you give us.",
        "Acme Inc. is based in the U.S. and complies with COPPA.",
        "We use cookies, web beacons, etc. to count visits.",
        "Write to Dr. Smith, No. 5 Main St. in Bangkok!",
        "Questions?",
        "Ask us.",
    ]


def test_english_splitter_keeps_list_items_with_their_lead_in():
    text = ("1. Information We Collect\n"
            "We share your information with:\n"
            "- advertising partners\n\n"
            "- analytics providers\n"
            "2. Your Rights\n"
            "(a) You may ask us to delete your data. We answer within 30 days.\n"
            "• We never sell data")
    assert sentences(text) == [
        "1. Information We Collect",
        "We share your information with:\n- advertising partners\n\n- analytics providers",
        "2. Your Rights",
        "(a) You may ask us to delete your data.",
        "We answer within 30 days.",
        "• We never sell data",
    ]


def test_sentence_offsets_are_exact():
    text = extract_html_text(PAGE).text
    spans = split_sentences(text, "en")
    assert spans and all(text[s:e] == text[s:e].strip() and text[s:e] for s, e in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # neighbours


def test_thai_sentences_keep_exceptions_with_their_negation():
    text = ("เราจะไม่เปิดเผยข้อมูลส่วนบุคคลของท่านแก่บุคคลภายนอก เว้นแต่ได้รับความยินยอมจากท่าน "
            "หรือเป็นการปฏิบัติตามกฎหมาย ทั้งนี้ เราไม่ขายข้อมูลส่วนบุคคลของเด็ก\n"
            "ท่านมีสิทธิขอเข้าถึง แก้ไข หรือลบข้อมูลส่วนบุคคลของท่านได้")
    found = sentences(text, "th")
    assert found[0] == ("เราจะไม่เปิดเผยข้อมูลส่วนบุคคลของท่านแก่บุคคลภายนอก เว้นแต่ได้รับความยินยอมจากท่าน "
                        "หรือเป็นการปฏิบัติตามกฎหมาย")
    assert "ทั้งนี้ เราไม่ขายข้อมูลส่วนบุคคลของเด็ก" in found
    assert found[-1] == "ท่านมีสิทธิขอเข้าถึง แก้ไข หรือลบข้อมูลส่วนบุคคลของท่านได้"
    for s, e in split_sentences(text, "th"):
        assert "\n" not in text[s:e]


def test_thai_document_with_english_lines_splits_those_in_english():
    text = "นโยบายความเป็นส่วนตัวของเรา\nWe collect your name. We do not sell it."
    assert sentences(text, "th") == ["นโยบายความเป็นส่วนตัวของเรา", "We collect your name.",
                                     "We do not sell it."]


def test_policy_sections_named_like_furniture_are_kept():
    page = """<html><body><div id="CybotCookiebotDialog">This website uses cookies. Allow all</div>
    <main><h1>Privacy Policy</h1>
    <section id="cookies"><h2>Cookies</h2><p>We use cookies to keep you signed in.</p></section>
    <section class="consent"><h2>Parental consent</h2><p>We ask a parent before we collect data.</p></section>
    <div class="data-sharing"><h2>Sharing</h2><p>We share data with our host.</p></div>
    <div class="social-share"><a href="#">Tweet</a></div></main></body></html>"""
    text = extract_html_text(page).text
    for kept in ("We use cookies to keep you signed in.", "Parental consent",
                 "We ask a parent before we collect data.", "We share data with our host."):
        assert kept in text
    assert "Allow all" not in text and "Tweet" not in text


def test_thai_leading_condition_stays_with_its_main_clause():
    from scanner.thai import sentence_spans

    text = ("ในกรณีที่มีการควบรวมกิจการกับบริษัทอื่น ข้อมูลของท่านอาจถูกโอนไปยังผู้ซื้อกิจการ "
            "เราเก็บข้อมูลไว้ไม่เกินห้าปี")
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences[0] == "ในกรณีที่มีการควบรวมกิจการกับบริษัทอื่น ข้อมูลของท่านอาจถูกโอนไปยังผู้ซื้อกิจการ"
    assert sentences[-1] == "เราเก็บข้อมูลไว้ไม่เกินห้าปี"


def test_thai_condition_already_joined_does_not_swallow_the_next_sentence():
    text = "หากผู้ปกครองพบว่าบุตรหลานให้ข้อมูลแก่เรา โปรดติดต่อเรา เราจะลบข้อมูลนั้นโดยเร็ว"
    assert sentences(text, "th") == ["หากผู้ปกครองพบว่าบุตรหลานให้ข้อมูลแก่เรา โปรดติดต่อเรา",
                                     "เราจะลบข้อมูลนั้นโดยเร็ว"]


# ---------------------------------------------------------------- content-type dispatch

PDF_SOURCE = "Star Scribes Privacy Policy\nWe do not sell student personal information."


def test_document_html_is_decoded_by_its_header_charset_and_keeps_its_markup():
    extracted = extract_document(THAI_PAGE.encode("cp874"), "text/html; charset=windows-874",
                                 "http://127.0.0.1/privacy")
    assert THAI in extracted.text and extracted.lang == "th" and extracted.title == "นโยบาย"
    assert "<main>" in extracted.html and THAI in extracted.html


@pytest.mark.parametrize("content_type", ["application/pdf", "application/octet-stream", None])
def test_document_pdf_by_type_or_by_its_first_bytes(content_type):
    extracted = extract_document(text_to_pdf(PDF_SOURCE, title="Star Scribes"), content_type,
                                 "http://127.0.0.1/policy.pdf")
    assert "We do not sell student personal information." in extracted.text.splitlines()
    assert extracted.title == "Star Scribes" and extracted.html is None


def test_document_plain_text_is_normalised_not_parsed_as_html():
    body = "Privacy  Policy\r\n\r\n\r\nWe collect <b>no</b> data from children.\n".encode("cp1252")
    extracted = extract_document(body, "text/plain; charset=iso-8859-1", "http://127.0.0.1/p.txt")
    assert extracted.text == "Privacy Policy\n\nWe collect <b>no</b> data from children."
    assert extracted.lang == "en" and extracted.html is None


@pytest.mark.parametrize("content_type", [None, "", "application/xhtml+xml",
                                          "application/octet-stream", "text/xml"])
def test_document_markup_without_an_html_type_is_read_as_html(content_type):
    body = b"\n  <html><body><nav>Menu</nav><main><p>We collect a nickname.</p></main></body></html>"
    extracted = extract_document(body, content_type, "http://127.0.0.1/privacy")
    assert extracted.text == "We collect a nickname." and extracted.html is not None


@pytest.mark.parametrize("content_type, body", [
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00"),
    ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><text>Privacy</text></svg>"),
    ("application/zip", b"PK\x03\x04\x14\x00"),
    ("application/octet-stream", b"\x00\x01binary"),
])
def test_document_of_an_unsupported_type_is_a_one_line_error_naming_the_url(content_type, body):
    with pytest.raises(UnsupportedDocument) as error:
        extract_document(body, content_type, "http://127.0.0.1/privacy")
    message = str(error.value)
    assert message.startswith("http://127.0.0.1/privacy: unsupported content type ")
    assert content_type in message and "\n" not in message


def test_document_unreadable_pdf_error_names_the_url():
    with pytest.raises(PdfError, match=r"^http://127\.0\.0\.1/p\.pdf: unreadable PDF"):
        extract_document(b"%PDF-1.4 this is not really a pdf", "application/pdf",
                         "http://127.0.0.1/p.pdf")
