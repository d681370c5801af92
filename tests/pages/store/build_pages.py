"""Writes the Google Play fixture pages of this folder (run it after changing one: they are committed).

The pages are written here, not saved from Google: two made-up children's apps in the format of
real listings (`AF_initDataCallback` JSON blocks; the app record in ds:5 on a details page and in
ds:3 on a data-safety page, at the positions google-play-scraper and parse-play read).
Run: .venv/bin/python tests/pages/store/build_pages.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORD_LENGTH = 150


def link(path):
    return [None, None, None, None, [None, None, path]]


def url_slot(url):
    return [None, None, None, None, None, [None, None, url]]


def icon(name):
    return [None, 2, [96, 96], [None, None, f"https://play-lh.googleusercontent.com/{name}"]]


def heading(text, description, icon_name="ic"):
    """A heading row of the data-safety section: [icon, heading, [None, description]]."""
    return [[None, None, None, icon(icon_name), None, None, None, None, None, None, icon(icon_name)],
            text, [None, description]]


def data_row(category, summary, types):
    """One category row: heading, then [data type, optional, purposes] per type at [4]."""
    return [heading(category, summary), None, None, None, [list(t) for t in types]]


def data_safety(shared, collected, practices, declared=True):
    shared_section = [shared or None, "Data shared" if shared else "No data shared with third parties",
                      [None, "Data that may be shared with other companies or organizations"]]
    collected_section = [collected or None, "Data collected" if collected else "No data collected",
                         [None, "Data this app may collect"]]
    sections = [shared_section, collected_section] if declared else None
    return [None, None, None, None, sections, None, None, None, None,
            [None, "Security practices", [heading(p, "…") for p in practices]]]


def app_record(*, title, developer, email=None, website=None, address=None, policy=None,
               genre=None, categories=(), rating="Everyone", interactive=None, ads=False,
               iap=None, description="", kids_badges=None, safety=None, length=RECORD_LENGTH):
    record = [None] * length
    record[0] = [title]
    record[9] = [rating, icon("rating"), [None, "Mild Fantasy Violence"] if ads else None,
                 [None, interactive] if interactive else None]
    record[13] = ["100,000+", 100000, 243518, "100K+"]
    record[19] = [iap] if iap else None
    record[48] = [True] if ads else None
    record[68] = [developer, link("/store/apps/dev?id=5700313618786177705")]
    record[69] = [url_slot(website) if website else None, [email] if email else None,
                  [address] if address else None]
    record[72] = [[None, description]]
    record[73] = [None, description.split(".")[0] + "."]
    if genre:
        record[79] = [[[genre[0], link(f"/store/apps/category/{genre[1]}"), genre[1]]]]
    record[95] = [[None, None, None, icon("app-icon")]]
    record[99] = [url_slot(policy)] if policy else None
    if kids_badges:
        record[112] = kids_badges
    if categories:
        record[118] = [[[name, link(f"/store/apps/category/{cid}"), cid, None]
                        for name, cid in categories]]
    record[137] = safety
    record[140] = [[["2.4.1"]], [None, [[[24, "7.0"]]]]]
    record[145] = [[None, [1764201600, 0]]]
    return record


def callback(key, data, hash_="7"):
    return (f"<script class=\"{key}\" nonce=\"nX3q\">AF_initDataCallback({{key: '{key}', "
            f"hash: '{hash_}', data:{json.dumps(data, ensure_ascii=False)}, sideChannel: {{}}}});"
            "</script>")


def page(title, blocks, body=""):
    scripts = "".join(callback(key, data) for key, data in blocks)
    return ("<!doctype html><html lang=\"en-US\" dir=\"ltr\"><head><base href=\"https://play.google.com/\">"
            f"<meta name=\"referrer\" content=\"origin\"><title>{title}</title>"
            "<script nonce=\"nX3q\">window.WIZ_global_data = {\"Im6cmf\":\"/store/_/PlayStoreUi\"};</script>"
            f"</head><body><div id=\"yDmH0d\" class=\"tQj5Y\">{body}</div>{scripts}</body></html>")


def details_page(package, record):
    title = record[0][0]
    blocks = [
        ("ds:0", [[None, ["en", "US"]]]),
        ("ds:3", [[None, [[package, 7]]], None]),          # a block whose [1][2] is not the app
        ("ds:5", [None, [None, None, record, None, None, None, None, None, None, None, None,
                         [[package, 7]]]]),
        ("ds:8", [[[f"gp:{package}:r1", ["Parent of two"], 5, None,
                    "My daughter loves it. Teacher Approved indeed!", [1764201600, 0]]]]),
    ]
    return page(f"{title} - Apps on Google Play", blocks,
                body=f"<c-wiz><h1 itemprop=\"name\"><span>{title}</span></h1></c-wiz>")


def datasafety_page(package, record):
    return page(f"Data safety - {record[0][0]}", [
        ("ds:0", [[None, ["en", "US"]]]),
        ("ds:3", [None, [None, None, record, None, None, None, None, None, None, None, None,
                         [[package, 7]]]]),
    ], body="<c-wiz><h2>Data safety</h2></c-wiz>")


ABC_PACKAGE = "com.tinyfox.abcgames"
ABC = app_record(
    title="ABC Kids Games: Learn & Play", developer="Tiny Fox Studio Ltd",
    email="support@tinyfox.example", website="https://tinyfox.example/",
    address="1 Fox Lane, Bristol BS1 4DJ, United Kingdom", policy="https://tinyfox.example/privacy",
    genre=("Educational", "GAME_EDUCATIONAL"),
    categories=[("Educational", "GAME_EDUCATIONAL"), ("Pretend Play", "FAMILY_PRETEND")],
    interactive="In-Game Purchases, Users Interact", ads=True, iap="$0.99 - $4.99 per item",
    description="Letters, numbers and shapes for toddlers. Teacher Approved fun for little ones!",
    kids_badges=[[heading("Teacher Approved", "Teachers and experts approved this app for kids")],
                 [["Ages 5 & Under"], ["Ages 6-8"]]],
    safety=data_safety(
        shared=[data_row("Device or other IDs", "Device or other IDs",
                         [("Device or other IDs", False, "Advertising or marketing, Analytics")]),
                data_row("Location", "Approximate location",
                         [("Approximate location", False, "Advertising or marketing")])],
        collected=[data_row("App activity", "App interactions",
                            [("App interactions", False, "Analytics, App functionality")]),
                   data_row("Personal info", "Email address",
                            [("Email address", True,
                              "Account management, Fraud prevention, security, and compliance")])],
        practices=["Data is encrypted in transit", "You can request that data be deleted",
                   "Committed to follow the Play Families Policy"]),
)

PANDA_PACKAGE = "org.quietpanda.colouring"
PANDA_DETAILS = app_record(
    title="Quiet Panda Colouring", developer="Quiet Panda Foundation",
    email="hello@quietpanda.example", policy="https://quietpanda.example/privacy",
    genre=("Art & Design", "ART_AND_DESIGN"), categories=[("Art & Design", "ART_AND_DESIGN")],
    description="Colouring pages for young children. No ads. Teacher approved.",
    kids_badges=[[["Ages 5 & Under"]]],
)
PANDA_SAFETY = app_record(
    title="Quiet Panda Colouring", developer="Quiet Panda Foundation",
    email="hello@quietpanda.example", policy="https://quietpanda.example/privacy",
    safety=data_safety(
        shared=[],
        collected=[data_row("App info and performance", "Crash logs",
                            [("Crash logs", False, "App functionality")])],
        practices=["Data is encrypted in transit", "Data can’t be deleted"]),
)

# An app record with only a title and a developer: the other fields are to be reported missing.
SPARSE = [None] * 80
SPARSE[0] = ["Bare Bones Kids"]
SPARSE[68] = ["Bare Bones Apps", link("/store/apps/dev?id=1")]

# The same blocks reshaped: the details now sit in an object-like list at a new depth.
CHANGED = page("Kids Maze - Apps on Google Play", [
    ("ds:0", [[None, ["en", "US"]]]),
    ("ds:5", [None, [["Kids Maze"], {"developer": "Maze Co"}]]),
    ("ds:8", [[]]),
])

NOT_FOUND = ("<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1</title>"
             "<p><b>404.</b> <ins>That’s an error.</ins><p>We're sorry, the requested URL was not "
             "found on this server.  <ins>That’s all we know.</ins>")


def main():
    pages = {
        "kids_ads.html": details_page(ABC_PACKAGE, ABC),
        "kids_no_data_shared.html": details_page(PANDA_PACKAGE, PANDA_DETAILS),
        "kids_no_data_shared_datasafety.html": datasafety_page(PANDA_PACKAGE, PANDA_SAFETY),
        "sparse.html": details_page("com.barebones.kids", SPARSE),
        "changed_shape.html": CHANGED,
        "not_found.html": NOT_FOUND,
    }
    for name, html in pages.items():
        (HERE / name).write_text(html + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
