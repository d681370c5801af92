"""Policy-link discovery on a page's HTML, without fetching anything."""

from scanner.discovery import (
    discover_continuation_links, discover_policy_links, looks_like_policy, same_site,
)

BASE = "https://kids.example.com/"


def links(html, base=BASE):
    return {link.url: link for link in discover_policy_links(html, base)}


def test_footer_link_by_anchor_text_is_found_and_marked_as_footer():
    html = """<body><a href="/games">Games</a>
    <footer><a href="/legal/doc?id=4">Privacy</a> <a href="/terms">Terms of use</a></footer></body>"""
    found = links(html)
    assert list(found) == ["https://kids.example.com/legal/doc?id=4"]
    assert found["https://kids.example.com/legal/doc?id=4"].how == "footer-link"


def test_thai_link_texts_are_found():
    html = """<body><div><a href="/p/17">นโยบายคุ้มครองข้อมูลส่วนบุคคล</a>
    <a href="/p/18">นโยบาย ความเป็นส่วนตัว</a><a href="/p/19">ติดต่อเรา</a>
    <a href="/p/20">นโยบายการใช้คุกกี้</a></div></body>"""
    found = links(html)
    assert set(found) == {f"https://kids.example.com/p/{n}" for n in (17, 18, 20)}
    assert found["https://kids.example.com/p/17"].score > found["https://kids.example.com/p/20"].score


def test_link_rel_privacy_policy_wins():
    html = """<head><link rel="privacy-policy" href="/kb/article-99"></head>
    <body><footer><a href="/privacy">Privacy Policy</a></footer></body>"""
    found = discover_policy_links(html, BASE)
    assert found[0].url == "https://kids.example.com/kb/article-99"
    assert found[0].how == "link-rel"


def test_childrens_notice_ranks_above_general_policy_and_cookie_policy():
    html = """<footer><a href="/privacy">Privacy Policy</a> <a href="/kids-privacy">Children's Privacy Notice</a>
    <a href="/cookies">Cookie Policy</a></footer>"""
    order = [link.url.rsplit("/", 1)[1] for link in discover_policy_links(html, BASE)]
    assert order == ["kids-privacy", "privacy", "cookies"]


def test_privacy_controls_and_unrelated_links_are_not_policies():
    html = """<a href="/account/privacy-settings">Privacy settings</a>
    <a href="/ccpa-opt-out">Do Not Sell or Share My Personal Information</a>
    <a href="#" onclick="openConsent()">Cookie preferences</a>
    <a href="javascript:void(0)">Privacy Policy</a>
    <a href="mailto:privacy@example.com">privacy@example.com</a>
    <a href="/about">About us</a>"""
    assert links(html) == {}


def test_policy_url_without_telling_text_is_still_a_candidate():
    html = '<a href="/en/legal/privacy-policy/"><img src="x.png"></a>'
    assert "https://kids.example.com/en/legal/privacy-policy/" in links(html)


def test_menu_link_is_marked_as_menu():
    html = '<nav class="main-menu"><a href="/privacy-notice">Privacy notice</a></nav>'
    assert links(html)["https://kids.example.com/privacy-notice"].how == "menu-link"


def test_continuation_links_follow_next_pages_sections_and_sub_notices_on_the_same_site():
    page = "https://kids.example.com/privacy/"
    html = """<main><h1>Privacy</h1><p>Part one.</p>
    <p><a href="/privacy/2">Continue reading</a></p>
    <p>See our <a href="https://www.example.com/legal/children">Children's Privacy Notice</a>.</p>
    <p>We use <a href="https://policies.google.com/privacy">Google's privacy policy</a> tools.</p>
    <p><a href="/privacy/cookies">cookie policy</a></p>
    <ul class="pagination"><li><a href="/privacy/3">3</a></li></ul>
    <a href="/games">Games</a><a href="/privacy/#top">Top</a></main>"""
    found = {link.url: link for link in discover_continuation_links(html, page, BASE)}
    assert set(found) == {
        "https://kids.example.com/privacy/2", "https://www.example.com/legal/children",
        "https://kids.example.com/privacy/cookies", "https://kids.example.com/privacy/3",
    }
    assert found["https://kids.example.com/privacy/2"].how == "continuation"
    assert found["https://www.example.com/legal/children"].how == "policy-link"


def test_numbered_sections_and_rel_next_are_continuations():
    page = "https://kids.example.com/legal/section-1.html"
    html = """<head><link rel="next" href="/legal/section-2.html"></head>
    <body><a href="/legal/section-3.html">Data we collect</a> <a href="/legal/terms.html">Terms</a>
    <a href="?page=2">2</a></body>"""
    found = {link.url for link in discover_continuation_links(html, page, BASE)}
    assert found == {
        "https://kids.example.com/legal/section-2.html",
        "https://kids.example.com/legal/section-3.html",
        "https://kids.example.com/legal/section-1.html?page=2",
    }


def test_same_site_uses_registrable_domain_and_ports_for_ip_hosts():
    assert same_site("https://help.roblox.com/x", "https://www.roblox.com/")
    assert not same_site("https://policies.google.com/privacy", "https://kids.youtube.com/")
    assert same_site("http://127.0.0.1:8001/a", "http://127.0.0.1:8001/")
    assert not same_site("http://127.0.0.1:8002/a", "http://127.0.0.1:8001/")


def test_looks_like_policy():
    assert looks_like_policy("Some text", title="Privacy Policy")
    assert looks_like_policy("We collect personal information. We use cookies.")
    assert looks_like_policy("เราเก็บข้อมูลส่วนบุคคล และใช้คุกกี้")
    assert not looks_like_policy("Welcome to Jungle Jumpers! Play now.", title="Jungle Jumpers")


def test_legal_hub_links_are_same_site_and_named_legal_or_policies():
    from scanner.discovery import discover_hub_links

    html = """<footer><a href="/legal">Legal</a><a href="/policies">Policies</a>
    <a href="https://other.example.org/legal">Legal</a><a href="/legal-stuff">Legal stuff</a>
    <a href="/th/legal">ข้อกำหนดและนโยบาย</a></footer>"""
    assert discover_hub_links(html, BASE) == ["https://kids.example.com/legal",
                                              "https://kids.example.com/policies"]
