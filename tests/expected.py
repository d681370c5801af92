"""Expected data that several test files check against: the demo scan's outcome per target and
the requests the mechanisms test page makes."""

# `scores.status` of each demo target (targets/demo.yaml) after a scan of the demo sites; the
# tags in targets/demo.yaml say why (clean, sells-data, ad-trackers, no-policy, unreachable).
DEMO_SCORE_STATUS = {
    "happy-hippo": "scored",
    "pixel-pals": "scored",
    "tiny-tunes-tv": "scored",
    "dek-dee-thai": "scored",
    "star-scribes": "scored",
    "jungle-jumpers": "no_policy",
    "lost-lagoon": "unreachable",
}
# The child-directed demo targets whose policy denies selling yet whose pages load ad trackers
# (the README's SQL finds them); the clean one and the mixed-audience seller must not appear.
DEMO_ADS_DESPITE_DENIAL = {"tiny-tunes-tv"}
DEMO_NOT_ADS_DESPITE_DENIAL = {"happy-hippo", "pixel-pals"}

# Every load mechanism of tests/pages/mechanisms.html served at http://127.0.0.1:8000/:
# (request URL, via), read by test_resources and, served for real, by test_site_spider.
MECHANISM_REQUESTS = {
    ("https://redirect.meta-refresh.test/landing", "meta-refresh"),
    ("https://preconnect.link.test", "link.preconnect"),
    ("http://dns-prefetch.link.test", "link.dns-prefetch"),
    ("https://preload.link.test/lib.js", "link.preload"),
    ("https://modulepreload.link.test/mod.js", "link.preload"),
    ("https://styles.link.test/site.css", "link.stylesheet"),
    ("https://icons.link.test/favicon.ico", "link"),
    ("http://127.0.0.1:8000/static/own.css", "link.stylesheet"),
    ("https://www.googletagmanager.com/gtag/js?id=G-TESTPAGE01", "script"),
    ("http://127.0.0.1:8000/static/own.js", "script"),
    ("https://www.googletagmanager.com/gtag/js?id=G-TESTPAGE01", "inline"),
    ("https://www.googletagmanager.com/gtag/js?id=AW-123456789", "inline"),
    ("https://www.google-analytics.com/collect?tid=UA-7654321-2", "inline"),
    ("https://www.googletagmanager.com/gtm.js?id=GTM-TEST42", "inline"),
    ("https://www.googletagmanager.com/gtm.js?id=", "inline.url"),
    ("https://www.facebook.com/tr?id=112233445566&ev=PageView", "inline"),
    ("https://connect.facebook.net/en_US/fbevents.js", "inline.url"),
    ("https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=CTESTTIKTOK01", "inline"),
    ("https://static.hotjar.com/c/hotjar-3141592.js", "inline"),
    ("https://static.hotjar.com/c/hotjar-", "inline.url"),
    ("https://cdn.segment.com/analytics.js/v1/SEGMENTWRITEKEY123/analytics.min.js", "inline"),
    ("https://tr.snapchat.com/p?pid=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "inline"),
    ("https://analytics.twitter.com/i/adsct?txn_id=o1x2y", "inline"),
    ("https://websdk.appsflyer.com/?webAppId=a1b2c3d4-e5f6-a7b8-c9d0-e1f2a3b4c5d6", "inline"),
    ("https://api2.branch.io/v1/open?branch_key=key_live_testbranchkey123", "inline"),
    ("https://ads.superawesome.tv/v2/ad/31337", "inline"),
    ("https://sdk.kidoz.net/api/initSDK?publisher_id=4242", "inline"),
    ("https://import.css.test/fonts.css", "css"),
    ("https://background.css.test/bg.png", "css"),
    ("https://www.facebook.com/tr?id=112233445566&ev=PageView&noscript=1", "img.noscript"),
    ("https://www.googletagmanager.com/ns.html?id=GTM-TEST42", "iframe.noscript"),
    ("https://inline-style.css.test/hero.jpg", "css"),
    ("https://images.img.test/photo.jpg", "img"),
    ("https://pixel.img.test/p.gif?uid=1", "img.pixel"),
    ("https://hidden.img.test/h.gif", "img.pixel"),
    ("http://127.0.0.1:8000/static/own.png", "img"),
    ("https://srcset.img.test/a-1x.jpg", "img.srcset"),
    ("https://srcset.img.test/a,2x.jpg", "img.srcset"),
    ("https://frames.iframe.test/embed", "iframe"),
    ("https://plugin.embed.test/movie.swf", "embed"),
    ("https://plugin.object.test/applet.bin", "object"),
    ("https://video.media.test/clip.mp4", "media"),
    ("https://poster.media.test/still.jpg", "media"),
    ("https://source.media.test/clip.webm", "source"),
    ("https://captions.media.test/en.vtt", "media"),
    ("https://srcset.source.test/wide.webp", "source.srcset"),
    ("https://srcset.source.test/narrow.webp", "source.srcset"),
    ("https://fallback.img.test/pic.jpg", "img"),
    ("https://collect.form.test/signup", "form"),
    ("https://alt.form.test/submit", "form"),
    ("https://kids.onelink.me/AbCd/promo", "a.attribution"),
    ("https://kidsgame.app.link/xyz", "a.attribution"),
    ("https://ping.anchor.test/track", "a.ping"),
    ("https://button.img.test/go.png", "img"),
}
