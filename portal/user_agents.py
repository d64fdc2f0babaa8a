"""A browser's User-Agent header, said the way people say it: "Chrome on Linux"."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse


@lru_cache(maxsize=512)
def describe(user_agent: str) -> str:
    """ "Chrome on Linux", "Mobile Safari on iOS", "curl", or "Unknown browser" (parsed by ua-parser)."""
    if not user_agent:
        return "Unknown browser"
    found = parse(user_agent)
    browser = found.user_agent.family if found.user_agent else ""
    system = found.os.family if found.os else ""
    browser = browser.replace("HeadlessChrome", "Chrome (headless)")
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
