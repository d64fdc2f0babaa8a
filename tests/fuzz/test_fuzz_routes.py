"""Property-based fuzzing of every route (issue 13): every form and query parameter, signed in and not.

Routes come from app.url_map, so a new route is fuzzed without touching this file. Each route's form fields
and query parameters come from the pages themselves (every form, input, select, link and hx-* attribute
of the crawled pages) and, for routes no page shows a form for, from the WTForms classes. URL arguments get
real ids of tenant A's users, roles, groups, invitations, keys and sessions, sometimes tenant B's or a
missing one. Values mix what people send (ids, emails, logins, booleans, numbers at the edges) with what
attackers send (NUL, control characters, unicode, very long text, SQL and HTML metacharacters, crafted
cursors, repeated fields), with a valid CSRF token almost always.

For every example:
- no answer is 500 or more (an exception escaping the app counts as one);
- an answer of 400-499, or any GET, changes nothing in the database, but for what a refused sign-in records
  on purpose (login throttles, "*_failed" audit events);
- nothing of tenant B changes, whoever of tenant A asks.
Accepted changes are undone after each example (tests/db_state.restore), so the fixture's ids stay valid.

Reproducible: a fixed seed (derandomize). PORTAL_FUZZ_EXAMPLES sets the total (default 5,000 per database),
PORTAL_FUZZ_SEED another seed, PORTAL_FUZZ_VERBOSE=1 prints each route's answers, PORTAL_FUZZ_TRACE=1 every request.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask
from werkzeug.routing import Rule

from portal.permissions import PUBLIC
from tests import db_state
from tests.fuzz.conftest import SUMMARY
from tests.fuzz.fuzzer import Fuzzer, Outcome
from tests.fuzz.site import Route, Site, combinations
from tests.fuzz.world import Person, World, build
from tests.helpers import Portal

pytestmark = pytest.mark.fuzz

VERBOSE = bool(os.environ.get("PORTAL_FUZZ_VERBOSE"))  # print each route's answers
TOTAL = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "5000"))


def _is_public(site: Site, rule: Rule) -> bool:
    return getattr(site.app.view_functions[rule.endpoint], "_access", None) == PUBLIC


def _crawl(site: Site, world: World, person: Person, routes: list[Route], follow: int = 60) -> None:
    """Read each page of the routes with real ids, then up to `follow` of the addresses with a query string
    those pages link to (the pager's cursors and the sorts' links show only there)."""
    pools = {name: world.argument_pool(name, converter)[0] for route in routes for name, converter in route.arguments}
    urls: list[str] = []
    for route in routes:
        if route.method == "GET":
            for n, args in enumerate(combinations(route, pools, limit=4)):
                urls += [route.path(args) + query for query in (("", "?take=1") if n == 0 else ("",))]
    for url in urls:
        _read(site, person, url)
    seen = set(urls)
    for url in [link for link in site.links if link not in seen][:follow]:
        _read(site, person, url)


def _read(site: Site, person: Person, url: str) -> None:
    response = person.client.get(url)
    if response.mimetype == "text/html":
        site.learn(url, response.get_data(as_text=True))
    response.close()


def _weight(route: Route) -> int:
    """Routes whose forms hash passwords (argon2, tens of milliseconds) get a smaller share."""
    return 1 if route.form.passwords else 4


def _route_ids() -> tuple[list[str], list[str]]:
    """("METHOD rule" of every route but the static files, of the public ones), read from a throwaway app."""
    from tests.conftest import make_test_app

    app = make_test_app("sqlite://")
    site = Site.discover(app, skip=lambda rule: rule.endpoint == "static")
    public = [repr(route) for route in site.routes if _is_public(site, route.rule)]
    return [repr(route) for route in site.routes], public


ALL, PUBLIC_ROUTES = _route_ids()
SIGNED_IN = [route for route in ALL if not any(word in route for word in ("/logout", "/sign-out"))]
PRIVATE = [route for route in ALL if route not in PUBLIC_ROUTES]


@dataclass
class Fuzz:
    """The module's fixture: the fuzzer, each route by its id, and the examples each route gets."""

    fuzzer: Fuzzer
    routes: dict[str, Route]
    examples: dict[str, int]
    total: Outcome = field(default_factory=Outcome)

    def run(self, route_id: str, who: list[str], examples: int | None = None) -> None:
        """Fuzz one route and assert the properties held."""
        route = self.routes[route_id]
        outcome = self.fuzzer.run(route, who, examples or self.examples[route_id])
        self.total.examples += outcome.examples
        self.total.restores += outcome.restores
        self.total.sign_ins += outcome.sign_ins
        self.total.stale_tokens += outcome.stale_tokens
        for status, n in outcome.statuses.items():
            self.total.statuses[status] = self.total.statuses.get(status, 0) + n
        self.total.failures.update(outcome.failures)
        if VERBOSE:
            print(f"\n{route_id}: {dict(sorted(outcome.by_route.get(route_id, {}).items()))}")
        assert not outcome.failures, outcome.report()


def _budget(routes: dict[str, Route]) -> dict[str, int]:
    """Examples per route: TOTAL shared out, a quarter share for the routes whose forms hash passwords (argon2
    takes tens of milliseconds), and for the signed-out pass over the non-public routes (redirects to sign in)."""
    weights = {key: _weight(route) for key, route in routes.items() if key in SIGNED_IN}
    weights |= {f"nobody {key}": _weight(routes[key]) for key in PUBLIC_ROUTES}
    weights["nobody elsewhere"] = 16
    unit = TOTAL / sum(weights.values())
    return {key: max(3, math.ceil(weight * unit)) for key, weight in weights.items()}


@pytest.fixture(scope="module")
def fuzz(app: Flask) -> Iterator[Fuzz]:
    """Tenants A and B, the owner and an account-admin of A signed in, somebody signed out, every page read."""
    started = time.monotonic()
    portal = Portal(app)
    world = build(portal)
    site = Site.discover(app, skip=lambda rule: rule.endpoint == "static")
    people = {
        "owner": Person(portal, world.a.owner, "/me"),
        "admin": Person(portal, world.a.admin, "/me"),
        "nobody": Person(portal, None),
        "halfway": Person(portal, world.mfa_user, "/login/mfa"),
    }
    world.settle()
    _crawl(site, world, people["owner"], [route for route in site.routes if repr(route) in SIGNED_IN])
    for someone in ("nobody", "halfway"):
        _crawl(site, world, people[someone], [route for route in site.routes if repr(route) in PUBLIC_ROUTES])
    routes = {repr(route): route for route in site.routes}
    fuzz = Fuzz(Fuzzer(world, site, people), routes, _budget(routes))
    set_up = time.monotonic() - started
    yield fuzz
    total = fuzz.total
    dialect = app.extensions["portal.engine"].dialect.name
    SUMMARY.append(
        f"fuzz on {dialect}: {total.examples} examples in {time.monotonic() - started:.1f}s "
        f"(set-up and crawl {set_up:.1f}s), answers {dict(sorted(total.statuses.items()))}, "
        f"{total.restores} restores, {total.sign_ins} sign-ins again, "
        f"{total.stale_tokens} stale CSRF tokens, "
        f"{len(total.failures)} failures"
    )
    db_state.empty(app)


@pytest.mark.parametrize("route_id", SIGNED_IN)
def test_signed_in(fuzz: Fuzz, route_id: str) -> None:
    """The owner (three times in four) or an account-admin of tenant A sends fuzzed requests to the route."""
    fuzz.run(route_id, ["owner", "owner", "owner", "admin"])


@pytest.mark.parametrize("route_id", PUBLIC_ROUTES)
def test_signed_out(fuzz: Fuzz, route_id: str) -> None:
    """Somebody not signed in (or halfway: password given, code asked for) sends fuzzed requests to a public page."""
    fuzz.run(route_id, ["nobody", "nobody", "halfway"], fuzz.examples[f"nobody {route_id}"])


def test_signed_out_elsewhere(fuzz: Fuzz) -> None:
    """Somebody not signed in sends fuzzed requests to the other pages: refused, never a crash."""
    for route_id in PRIVATE:
        fuzz.run(route_id, ["nobody"], max(1, fuzz.examples["nobody elsewhere"] // len(PRIVATE)))
