"""Static-tier resource extraction, OpenWPM style: a test page with every load mechanism, and the
(request URL, via) tuples it must produce."""

import pytest

from expected import MECHANISM_REQUESTS
from helpers import PAGES, ROOT
from scanner.resources import (
    VIA_KINDS, coarse_via, css_urls, extract_resources, inline_tracker_urls, parse_set_cookie,
    parse_srcset, tracker_ids,
)

PAGE_URL = "http://127.0.0.1:8000/"


@pytest.fixture(scope="module")
def recorded():
    html = (PAGES / "mechanisms.html").read_text(encoding="utf-8")
    return [(r.url, r.via) for r in extract_resources(html, PAGE_URL)]


def test_every_load_mechanism_is_recorded_with_its_via(recorded):
    assert set(recorded) == MECHANISM_REQUESTS
    assert len(recorded) == len(set(recorded)), "a (url, via) pair is recorded once"


def test_urls_that_load_nothing_are_not_recorded(recorded):
    hosts = {url.split("/")[2] for url, _ in recorded}
    for host in ("canonical.not-loaded.test", "alternate.not-loaded.test",
                 "jsonld.not-loaded.test", "plain-link.not-loaded.test"):
        assert host not in hosts


def test_every_via_is_documented(recorded):
    assert {via for _, via in recorded} <= set(VIA_KINDS)
    assert {coarse_via(via) for _, via in recorded} >= {"script", "img", "iframe", "link", "inline"}
    doc = (ROOT / "docs" / "trackers.md").read_text(encoding="utf-8")
    for via in VIA_KINDS:
        assert f"`{via}`" in doc, f"via {via} missing from docs/trackers.md"


def test_base_href_resolves_relative_urls():
    html = '<html><head><base href="https://cdn.base.test/assets/"></head><body><img src="x.png"></body></html>'
    assert [(r.url, r.via) for r in extract_resources(html, PAGE_URL)] == [
        ("https://cdn.base.test/assets/x.png", "img")]


def test_noscript_kept_as_text_is_parsed():
    # Some parsers keep <noscript> content as raw text; the pixel inside must still be found.
    from parsel import Selector

    from scanner.resources import _Collector, _extract_elements

    out = _Collector(PAGE_URL)
    text = '<img src="https://pixel.noscript.test/p.gif" width="1" height="1">'
    _extract_elements(Selector(text=f"<html><body>{text}</body></html>"), out, in_noscript=True)
    assert [(r.url, r.via) for r in out.out] == [("https://pixel.noscript.test/p.gif", "img.noscript")]


def test_scripts_that_do_not_run_are_not_read_as_snippets():
    html = """<script type="text/template">fbq('init', '999999999')</script>
              <noscript><script>ttq.load('CNOTRUN0001')</script></noscript>"""
    assert extract_resources(html, PAGE_URL) == []


@pytest.mark.parametrize("script, url", [
    ("gtag('config', 'G-ABCDEF1234')", "https://www.googletagmanager.com/gtag/js?id=G-ABCDEF1234"),
    ("fbq('init', 123456789012);", "https://www.facebook.com/tr?id=123456789012&ev=PageView"),
    ("_linkedin_partner_id = \"1234567\";", "https://px.ads.linkedin.com/collect?pid=1234567"),
    ("pintrk('load', '2612345678901');", "https://ct.pinterest.com/v3/?tid=2612345678901"),
    ("ym(87654321, \"init\", {clickmap:true});", "https://mc.yandex.ru/watch/87654321"),
    ("(function(c,l,a,r,i,t,y){})(window, document, \"clarity\", \"script\", \"abcdef1234\");",
     "https://www.clarity.ms/tag/abcdef1234"),
    ("fbq('track', 'PageView');", "https://connect.facebook.net/en_US/fbevents.js"),
])
def test_inline_snippets_give_the_url_they_load(script, url):
    assert url in inline_tracker_urls(script)


def test_plain_script_has_no_snippet():
    assert inline_tracker_urls("document.title = 'Hello G-AME';") == []


@pytest.mark.parametrize("url, ids", [
    ("https://www.googletagmanager.com/gtm.js?id=GTM-TEST42", ["GTM-TEST42"]),
    ("https://www.googletagmanager.com/gtag/js?id=G-TESTPAGE01", ["G-TESTPAGE01"]),
    ("https://www.google-analytics.com/collect?v=1&tid=UA-1234-1", ["UA-1234-1"]),
    ("https://www.facebook.com/tr?id=1234567890&ev=PageView", ["meta-pixel:1234567890"]),
    ("https://static.hotjar.com/c/hotjar-3141592.js?sv=6", ["hotjar:3141592"]),
    ("https://example.test/images/logo.png", []),
])
def test_tracker_ids_from_urls(url, ids):
    assert tracker_ids(url) == ids


def test_srcset_and_css_parsing():
    assert parse_srcset("a.jpg 1x,b.jpg 2x") == ["a.jpg", "b.jpg"]
    assert parse_srcset("  https://x.test/a,b.jpg 100w ,  c.jpg") == ["https://x.test/a,b.jpg", "c.jpg"]
    assert css_urls("a{background:url( 'x.png' )} @import 'y.css'; b{src:url(z.woff)}") == [
        "x.png", "y.css", "z.woff"]


def test_set_cookie_attributes():
    cookie = parse_set_cookie(
        "_fbp=fb.1.2.3; Domain=.Example.test; Path=/; Expires=Wed, 01 Jan 2031 00:00:00 GMT; "
        "Secure; HttpOnly; SameSite=none", "www.example.test")
    assert (cookie.name, cookie.domain, cookie.expires) == ("_fbp", "example.test", "2031-01-01T00:00:00+00:00")
    assert cookie.secure and cookie.http_only and cookie.samesite == "None" and not cookie.host_only


def test_set_cookie_max_age_counts_from_response_date_and_session_cookies_have_no_expiry():
    import datetime as dt

    received = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    cookie = parse_set_cookie("sid=1; Max-Age=3600; Expires=Thu, 01 Jan 2099 00:00:00 GMT", "a.test", received)
    assert cookie.expires == "2030-01-01T01:00:00+00:00"
    session = parse_set_cookie("sid=1; Path=/", "A.test")
    assert session.expires is None and session.domain == "a.test" and session.host_only
    assert not session.secure and session.samesite is None
    assert parse_set_cookie("no-equals-sign", "a.test") is None


def test_extraction_is_fast_on_a_tag_dense_page():
    import time

    html = (PAGES / "mechanisms.html").read_text(encoding="utf-8") * 20
    start = time.perf_counter()
    for _ in range(5):
        extract_resources(html, PAGE_URL)
    per_page = (time.perf_counter() - start) / 5
    assert per_page < 0.1, f"{per_page * 1000:.1f} ms for a 20-fold page"


def test_half_urls_in_inline_scripts_are_not_hosts():
    """A loader that builds its URL by concatenation leaves string pieces that are no host."""
    html = ("<script>var u='https://www.googletagmanager'+'.com/gtm.js';"
            "var s=\"https://cdn.segment\";"
            "var h='https://static.hotjar.com/c/hotjar-'+id+'.js';</script>")
    found = {(r.url, r.via) for r in extract_resources(html, "https://kids.example/")}
    assert found == {("https://static.hotjar.com/c/hotjar-", "inline.url")}


@pytest.mark.parametrize("page_url", ["http://a.test/x/y.html?q=1#f", "https://[::1]:8443/a/b",
                                      "HTTP://A.test/x/../y", "http://u:p@a.test/p;par?x"])
@pytest.mark.parametrize("raw", ["/img/1.png", "/a/../b/./c?x#f", "/%2e%2e/x", "/;p?q", "/"])
def test_a_path_from_the_root_resolves_as_urljoin_resolves_it(page_url, raw):
    """Such paths are joined to the page's scheme and host alone (remembered for the site)."""
    from urllib.parse import urljoin

    html = f'<html><body><img src="{raw}"><img src="x/{raw}"></body></html>'
    assert [r.url for r in extract_resources(html, page_url)] == [
        urljoin(page_url, raw), urljoin(page_url, f"x/{raw}")]


@pytest.mark.parametrize("page_url", ["http://a.test/x/y.html?q=1#f", "https://[::1]:8443/a/b",
                                      "HTTP://A.test/x/../y", "http://u:p@a.test/p;par?x"])
@pytest.mark.parametrize("raw", ["https://cdn.test/a/../b?x#f", "http://cdn.test/p;q", "//cdn.test/x",
                                 "HTTPS://CDN.test/x", "ftp://files.test/x", "http:///x", "http:",
                                 "https:", "//", "///x", "http://", "https://[::1]/a", "http://[bad/",
                                 "wss://s.test/", "http:x/y", "x://h/p", "//h:99999/p"])
def test_a_url_with_a_host_resolves_as_urljoin_resolves_it(page_url, raw):
    """Such URLs are joined to the page's scheme and host alone (remembered for the site); one
    that urljoin cannot read, or that is not http(s), is left out, as before."""
    from urllib.parse import urljoin, urlsplit

    def joined(raw):
        try:
            url = urljoin(page_url, raw)
            return url if urlsplit(url).scheme in ("http", "https") else None
        except ValueError:
            return None

    html = f'<html><body><img src="{raw}"><img src="x/{raw}"></body></html>'
    expected = [url for url in (joined(raw), joined(f"x/{raw}")) if url is not None]
    assert [r.url for r in extract_resources(html, page_url)] == list(dict.fromkeys(expected))
