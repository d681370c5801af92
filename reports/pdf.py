"""The PDF report: the self-contained HTML report printed by Debian's headless Chromium,
with no network at all (the HTML needs none: charts are inline SVG, fonts data: URLs)."""

from __future__ import annotations

import os

from scanner.browser import CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, browser_problem

# Every host name resolves to nothing: a stray URL in a finding's evidence cannot reach out.
NO_NETWORK_ARGS = ("--host-resolver-rules=MAP * ~NOTFOUND", "--no-proxy-server")
PRINT_TIMEOUT_MS = 60000


class PdfError(RuntimeError):
    """The PDF cannot be made here (no Chromium, or it failed); the message is one line."""


def pdf_problem() -> str | None:
    """Why a PDF cannot be printed on this machine, or None."""
    if browser_problem(CHROMIUM):
        return f"PDF reports need Chromium at {CHROMIUM}: {INSTALL_HINT}"
    return None


def html_to_pdf(html: str) -> bytes:
    """The HTML printed to an A4 PDF (backgrounds kept) by headless Chromium.

    Playwright's sync API, so not from inside a running asyncio loop (the CLI calls it).
    """
    problem = pdf_problem()
    if problem:
        raise PdfError(problem)
    return _print(html)


def _print(html: str) -> bytes:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, *NO_NETWORK_ARGS]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses its sandbox as root (CI, containers)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=args, timeout=PRINT_TIMEOUT_MS)
            try:
                context = browser.new_context(offline=True)
                context.route("**/*", _only_local)
                page = context.new_page()
                page.set_content(html, wait_until="load", timeout=PRINT_TIMEOUT_MS)
                page.evaluate("() => document.fonts.ready.then(() => true)")
                return page.pdf(format="A4", print_background=True,
                                margin={"top": "12mm", "bottom": "12mm", "left": "10mm",
                                        "right": "10mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        first_line = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise PdfError(f"Chromium could not print the report: {first_line}") from None


def _only_local(route) -> None:
    if route.request.url.startswith(("file:", "data:")):
        route.continue_()
    else:
        route.abort()
