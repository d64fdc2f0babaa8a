"""axe-core on the page as it stands, at a desktop and a phone width, in the light and the dark scheme.

`check(page, "users-list")` runs axe-core (tests/browser/vendor, MPL-2.0) four times: 1280×800 and
390×844, light and dark (every rule in the light scheme; in the dark one, which changes colours only,
the rules about colour). It asserts no violation of any impact, that nothing scrolls sideways at 390 px,
and, when asked, saves screenshots at both widths (with SCREENSHOTS_DARK=1, in the dark scheme too).
Every check is listed in screenshots/axe-checked.txt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
SCREENSHOTS = Path(__file__).parent / "screenshots"
LOG = SCREENSHOTS / "axe-checked.txt"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DARK_SHOTS = bool(os.environ.get("SCREENSHOTS_DARK"))  # the dark scheme too: SCREENSHOTS_DARK=1 pytest …
VARIANTS = [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light"), (PHONE, "dark")]


def preload(page: Page) -> None:
    """Have axe-core in every document the page's context loads from now on (cheaper than injecting it
    into each document after it loaded)."""
    page.context.add_init_script(AXE)


# The dark scheme changes colours only (custom properties under prefers-color-scheme, in Pico and in
# static/portal.css), never what is shown or where: in it, the rules about colour are the ones to run again.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]


def violations(page: Page, rules: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of every rule or of those named (axe is injected
    when it is not there yet)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    result: list[dict[str, Any]] = page.evaluate(
        """async (rules) => {
            const options = {resultTypes: ["violations"]};
            if (rules) options.runOnly = {type: "rule", values: rules};
            const found = await axe.run(document, options);
            return found.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map((n) => ({target: n.target.join(" "), summary: n.failureSummary}))}));
        }""",
        rules,
    )
    return result


def sideways_overflow(page: Page) -> dict[str, Any] | None:
    """What makes the page wider than the window, or None when nothing does."""
    found: dict[str, Any] | None = page.evaluate(
        """() => {
            const doc = document.documentElement;
            if (doc.scrollWidth <= window.innerWidth) return null;
            const wide = [...document.querySelectorAll("body *")]
                .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
                .filter((e) => !e.closest(".table-scroll") || e.matches(".table-scroll"))
                .slice(0, 5).map((e) => e.outerHTML.slice(0, 160));
            return {scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, wide};
        }"""
    )
    return found


def _log(state: str, width: int, scheme: str, count: int) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"{state}\t{width}\t{scheme}\t{count}\n")


_WITHOUT_JS: set[int] = set()


def no_js_context(browser: Browser) -> BrowserContext:
    """A browser context with JavaScript off, known to check() (axe cannot run in it: its timers never fire)."""
    context = browser.new_context(java_script_enabled=False, reduced_motion="reduce")
    _WITHOUT_JS.add(id(context))
    return context


def _as_without_js(page: Page) -> tuple[Page, BrowserContext]:
    """The page as it is now, in a context where axe can run: its HTML served again at its address, with
    the portal's scripts blocked, so that it is what a browser without JavaScript shows."""
    html, url = page.content(), page.url
    browser = page.context.browser
    assert browser is not None
    context = browser.new_context(reduced_motion="reduce")
    copy = context.new_page()

    def serve(route: Route) -> None:
        if route.request.url == url:
            route.fulfill(body=html, content_type="text/html; charset=utf-8")
        elif route.request.url.endswith(".js"):
            route.abort()
        else:
            route.continue_()

    copy.route("**/*", serve)
    copy.goto(url)
    return copy, context


def check(page: Page, state: str, screenshot: bool = False) -> None:
    """axe-core finds nothing at 1280 and 390 px, light and dark; nothing scrolls sideways at 390 px.

    The page is left as it was found (1280 px, light). With screenshot=True, saves <state>-1280.png and
    <state>-390.png in tests/browser/screenshots/ (with SCREENSHOTS_DARK=1, the -dark ones too).
    """
    if id(page.context) in _WITHOUT_JS:
        copy, context = _as_without_js(page)
        try:
            problems = findings(copy, state, screenshot)
        finally:
            context.close()
    else:
        problems = findings(page, state, screenshot)
    assert not problems, "\n".join(problems)


def findings(page: Page, state: str, screenshot: bool = False) -> list[str]:
    """What check() asserts there is none of, as a list (a tour of many pages reports them all at once)."""
    problems = []
    original = page.viewport_size or DESKTOP
    page.mouse.move(0, 0)  # nothing hovered by chance (the last click's button): every state is the resting one
    for size, scheme in VARIANTS:
        page.set_viewport_size(size)
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")  # no colour transitions half-way
        if size is PHONE:
            overflow = sideways_overflow(page)
            if overflow:
                problems.append(f"{state} at 390 px scrolls sideways: {json.dumps(overflow, indent=1)}")
        found = violations(page, COLOUR_RULES if scheme == "dark" else None)
        _log(state, size["width"], scheme, len(found))
        if found:
            problems.append(f"{state} at {size['width']} px, {scheme}: {json.dumps(found, indent=1)}")
        if screenshot and (scheme == "light" or DARK_SHOTS):
            suffix = "" if scheme == "light" else "-dark"
            page.screenshot(path=SCREENSHOTS / f"{state}-{size['width']}{suffix}.png", full_page=True)
    page.set_viewport_size(original)
    page.emulate_media(color_scheme="light", reduced_motion="reduce")
    return problems
