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

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule

from portal.extensions import limiter
from portal.permissions import PUBLIC
from tests import db_state
from tests.fuzz import values
from tests.fuzz.conftest import SUMMARY
from tests.fuzz.site import Inputs, Route, Site, combinations
from tests.fuzz.world import MFA_SECRET, MISSING, Person, World, build
from tests.helpers import Portal

pytestmark = pytest.mark.fuzz

VERBOSE = bool(os.environ.get("PORTAL_FUZZ_VERBOSE"))  # print each route's answers
TRACE = bool(os.environ.get("PORTAL_FUZZ_TRACE"))  # print every request and its answer
TOTAL = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "5000"))
# CI draws the same examples every run; another seed explores elsewhere: PORTAL_FUZZ_SEED=7 PORTAL_FUZZ_EXAMPLES=50000
SEED = int(os.environ["PORTAL_FUZZ_SEED"]) if os.environ.get("PORTAL_FUZZ_SEED") else None
TOTP_NOW = "{totp-now}"  # stands for the MFA user's current code (see _live)
CONFIRMATION = "_confirmation"  # "password_confirmation" repeats "password"
HEADERS = ["User-Agent", "X-Correlation-Id", "X-Forwarded-For", "Referer", "HX-Target", "HX-Current-URL", "HX-Boosted",
           "HX-History-Restore-Request", "Accept-Language"]


Pair = tuple[str, str]


@dataclass
class Request:
    """One drawn request."""

    who: str
    route: Route
    args: dict[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    csrf: str  # "valid", "missing" or "garbage"
    multipart: bool = False

    def describe(self) -> str:
        form = [(k, v[:80]) for k, v in self.form]
        query = [(k, v[:80]) for k, v in self.query]
        return (f"{self.who}: {self.route.method} {self.route.path(self.args)} query={query!r} form={form!r} "
                f"headers={self.headers!r} csrf={self.csrf}")


@dataclass
class Outcome:
    """What the run saw: examples, answers by status class, and the failures (first example of each kind)."""

    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_route: dict[str, dict[int, int]] = field(default_factory=dict)  # PORTAL_FUZZ_VERBOSE=1 prints it
    restores: int = 0
    sign_ins: int = 0
    stale_tokens: int = 0
    failures: dict[tuple[str, ...], str] = field(default_factory=dict)

    def fail(self, key: tuple[str, ...], text: str) -> None:
        self.failures.setdefault(key, text)

    def report(self) -> str:
        return "\n\n".join(self.failures.values())


class _Errors(logging.Handler):
    """Keeps the exceptions the app logs (its last-resort handler logs every 500 with its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str:
        lines = []
        for record in self.records:
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                lines.append(f"{type(error).__module__}.{type(error).__name__}: {str(error).splitlines()[0][:300]}")
            else:
                lines.append(record.getMessage()[:300])
        self.records.clear()
        return "\n".join(lines)


class Fuzzer:
    """Sends drawn requests and checks the properties after each."""

    def __init__(self, world: World, site: Site, people: dict[str, Person]) -> None:
        self.world, self.site, self.people = world, site, people
        self.app = world.portal.app
        self.outcome = Outcome()
        self.errors = _Errors()
        self._values: dict[str, st.SearchStrategy[str]] = {}
        self._seen: dict[str, set[str]] = {}
        for route in site.routes:
            for inputs in (route.form, route.query):
                for name, seen in inputs.fields.items():
                    self._seen.setdefault(name, set()).update(seen)
        for name in self._seen:
            if "code" in name.lower():
                self._seen[name].add(TOTP_NOW)  # a right code now and then: the step past it runs too
        self._ids = sorted({*world.ids(None, "A"), *world.ids(None, "B")[:10], MISSING})
        self._words = world.words()

    # --- strategies (built once: hypothesis inspects each new composite's source) --------------------------

    def value(self, name: str) -> st.SearchStrategy[str]:
        """Values for a field or parameter of this name."""
        if name not in self._values:
            self._values[name] = values.text_for(name, sorted(self._seen.get(name, ())), self._ids, self._words)
        return self._values[name]

    def argument(self, name: str, converter: str) -> st.SearchStrategy[str]:
        """A URL argument: a real value of tenant A four times in five, else tenant B's or a missing one."""
        key = f"<{converter}:{name}>"
        if key not in self._values:
            own, other = self.world.argument_pool(name, converter)
            mine, theirs = st.sampled_from(own or other), st.sampled_from(other)
            share = 9 if name == "account_id" else 8  # another account's id makes the whole request a 404
            self._values[key] = st.integers(0, 9).flatmap(lambda roll: mine if roll < share else theirs)
        return self._values[key]

    def requests(self, routes: list[Route], who: list[str]) -> st.SearchStrategy[Request]:
        """Requests to the routes (a route listed n times is drawn n times as often), by one of `who`."""
        strategies = {id(route): self.route_requests(route, who) for route in {id(r): r for r in routes}.values()}
        return st.sampled_from(routes).flatmap(lambda route: strategies[id(route)])

    def arguments(self, route: Route) -> st.SearchStrategy[dict[str, str]]:
        """The URL's arguments, each on its own, or (half the time, where a row links them) together."""
        alone = st.fixed_dictionaries({name: self.argument(name, converter) for name, converter in route.arguments})
        related = self.world.related([name for name, _ in route.arguments])
        if not related:
            return alone
        return st.one_of(st.tuples(alone, st.sampled_from(related)).map(lambda pair: {**pair[0], **pair[1]}), alone)

    def route_requests(self, route: Route, who: list[str]) -> st.SearchStrategy[Request]:
        """Requests to one route: its arguments, query parameters and form fields, headers and CSRF token."""
        return _request(_Plan(
            route=route,
            arguments=self.arguments(route),
            query=self.pairs(route.query, self.site.global_params, keep=0.5 if route.method == "GET" else 0.1),
            form=self.pairs(route.form, self.site.global_fields, keep=0.85) if route.method != "GET" else st.just([]),
            people=st.sampled_from(who),
            headers={name: self.value(name) for name in HEADERS},
            confirmed=[name for name in route.form.fields
                       if name.endswith(CONFIRMATION) and name[: -len(CONFIRMATION)] in route.form.fields],
            api_key=self.world.api_key if route.rule.rule.startswith("/api/") else "",
        ))

    def pairs(self, inputs: Inputs, extra: set[str], keep: float) -> st.SearchStrategy[list[Pair]]:
        """Name-value pairs, half the time what a page submits with some values changed, else each known name
        most of the time (now and then twice); sometimes other names too."""
        others = _extra_pairs(st.sampled_from(sorted(extra - set(inputs.fields)) or ["x"]) | self.value("name"),
                              self.value(""))
        known = _known_pairs([(name, self.value(name)) for name in sorted(inputs.fields)], keep, others)
        if not inputs.samples:
            return known
        names = {name for sample in inputs.samples for name, _ in sample}
        return st.one_of(_changed_pairs(inputs.samples, {name: self.value(name) for name in names}, others), known)

    # --- one example --------------------------------------------------------------------------------------

    def send(self, request: Request) -> None:
        person = self.people[request.who]
        route = request.route
        url = route.path(request.args)
        form = MultiDict([(name, _live(value)) for name, value in request.form])
        headers = dict(request.headers)
        if route.method != "GET" and request.csrf != "missing":
            token = person.token if request.csrf == "valid" else "garbage" + person.token[7:]
            form.add("csrf_token", token)
            if route.method != "POST":
                headers["X-CSRFToken"] = token
        if limiter.enabled:
            limiter.reset()  # rate limits would soon answer 429 to everything the fuzz sends twice a minute
        self.outcome.examples += 1
        status, location = 599, ""
        started = time.monotonic()
        try:
            response = person.client.open(url, method=route.method, query_string=request.query,
                                          data=form if route.method != "GET" else None, headers=headers,
                                          content_type="multipart/form-data" if request.multipart else None)
            body = response.get_data()  # a streamed answer fails while it is read
            response.close()
            status = response.status_code
            location = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
            if status == 400 and request.csrf == "valid" and b"This form has expired" in body:
                self.outcome.stale_tokens += 1  # the harness's token went stale: a wasted example, not a finding
                person.refresh_token()
        except Exception as error:  # an exception out of the app: what a browser gets as a bare 500
            self.errors.records.append(logging.makeLogRecord(
                {"msg": f"{type(error).__name__}: {error}", "levelno": logging.ERROR}))
        elapsed = time.monotonic() - started
        self.outcome.statuses[status // 100 * 100] = self.outcome.statuses.get(status // 100 * 100, 0) + 1
        if TRACE:
            print(f"{status} {request.describe()[:300]}")
        answers = self.outcome.by_route.setdefault(repr(route), {})
        answers[status] = answers.get(status, 0) + 1
        logged = self.errors.take()
        if status >= 500:
            first = logged.splitlines()[0] if logged else ""
            self.outcome.fail(("500", repr(route), first.split(":")[0]),
                              f"{status} in {elapsed:.2f}s: {request.describe()}\n{logged}")
        self.check_database(request, status)
        if urlsplit(location).path.startswith("/login") and person.probe is not None:
            self.keep_signed_in(person)
        elif route.method != "GET" and status < 400:
            person.keep_token()  # an accepted form may have renewed the session, and with it the CSRF token

    def check_database(self, request: Request, status: int) -> None:
        mark = db_state.write_mark(self.app)
        if mark is not None and mark == self.world.mark:
            return  # the common case, as cheaply as can be: nothing was written at all
        fingerprint = db_state.fingerprint(self.app)
        if fingerprint == self.world.fingerprint:
            self.world.mark = mark  # something was written (a session's last-seen time): nothing that counts
            return
        changed = [name for name, now, then in zip(db_state.table_names(), fingerprint, self.world.fingerprint,
                                                   strict=True) if now != then]
        after = db_state.take(self.app, changed)
        difference = db_state.compare({name: self.world.baseline[name] for name in changed}, after)
        if not difference:
            self.world.mark = mark
            return
        refused = 400 <= status < 500 or request.route.method == "GET"
        unexpected = [(table, row) for table, row in difference.rows() if not _recorded_on_purpose(table, row)]
        if refused and unexpected:
            self.outcome.fail(("changed", repr(request.route), str(status)),
                              f"{status} changed the database: {request.describe()}\n{difference.summary()}")
        # An attempt to sign in to B is B's to record (throttles, failed attempts); nothing else of B may change.
        if any(self.world.touches_b(row) for _table, row in unexpected):
            self.outcome.fail(("tenant B", repr(request.route)),
                              f"{status} changed tenant B: {request.describe()}\n{difference.summary()}")
        db_state.restore(self.app, self.world.baseline, after)
        if db_state.fingerprint(self.app) != self.world.fingerprint:  # a cascade reached another table
            db_state.restore(self.app, self.world.baseline)
        self.world.mark = db_state.write_mark(self.app)
        self.outcome.restores += 1

    def keep_signed_in(self, person: Person) -> None:
        """After an answer that sent the browser to sign in: sign in again if its session really ended."""
        probe = person.client.get(person.probe or "/")
        if probe.status_code in (302, 303) and urlsplit(probe.headers["Location"]).path.startswith("/login"):
            person.sign_in()
            self.outcome.sign_ins += 1
            self.world.settle()  # the new session is part of the state to keep from now on
        else:
            person.refresh_token()

    # --- a run --------------------------------------------------------------------------------------------

    def run(self, route: Route, who: list[str], examples: int) -> Outcome:
        """Send `examples` drawn requests to the route (a fixed seed: the same ones each run); what was seen."""
        self.outcome = Outcome()

        @settings(max_examples=examples, deadline=None, derandomize=SEED is None, database=None, print_blob=False,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(self.route_requests(route, who))
        def one(request: Request) -> None:
            self.send(request)

        if SEED is not None:
            one = seed(SEED)(one)

        self.app.logger.addHandler(self.errors)
        try:
            one()
        finally:
            self.app.logger.removeHandler(self.errors)
        return self.outcome


@dataclass
class _Plan:
    """What the requests to one route are drawn from (hypothesis inspects each composite's source once, so the
    composites are module functions and the per-route parts travel in here)."""

    route: Route
    arguments: st.SearchStrategy[dict[str, str]]
    query: st.SearchStrategy[list[Pair]]
    form: st.SearchStrategy[list[Pair]]
    people: st.SearchStrategy[str]
    headers: dict[str, st.SearchStrategy[str]]
    confirmed: list[str]
    api_key: str


@st.composite
def _request(draw: Callable[..., Any], plan: _Plan) -> Request:
    args = draw(plan.arguments)
    pairs = draw(plan.form)
    if plan.confirmed and draw(st.booleans()):  # the confirmation repeats its field: deeper checks run too
        given_ = dict(pairs)
        pairs = [(name, given_.get(name[: -len(CONFIRMATION)], value) if name in plan.confirmed else value)
                 for name, value in pairs]
    headers: dict[str, str] = {}
    if draw(st.integers(0, 9)) < 3:
        headers["HX-Request"] = "true"
    if draw(st.integers(0, 49)) == 0:
        name = draw(st.sampled_from(HEADERS))
        headers[name] = _header_value(draw(plan.headers[name]))
    if plan.api_key and draw(st.integers(0, 9)) < 9:
        headers["Authorization"] = f"Bearer {plan.api_key}"
    query = draw(plan.query)
    # Two classes of input broke many routes at once (issue 13): one NUL, one number past 64 bits. Each goes
    # into one drawn value of one request in twenty, wherever the drawing put it.
    roll = draw(st.integers(0, 19))
    if roll < 2 and (query or pairs):
        target = query if query and (not pairs or draw(st.booleans())) else pairs
        i = draw(st.integers(0, len(target) - 1))
        name, value = target[i]
        if roll == 0:
            at = draw(st.integers(0, len(value)))
            target[i] = (name, value[:at] + "\x00" + value[at:])
        else:
            target[i] = (name, draw(st.sampled_from(values.OVERFLOWS)))
    csrf = draw(st.sampled_from(["valid"] * 18 + ["missing", "garbage"]))
    return Request(draw(plan.people), plan.route, args, query, pairs, headers, csrf,
                   multipart=draw(st.integers(0, 19)) == 0)


@st.composite
def _extra_pairs(draw: Callable[..., Any], names: st.SearchStrategy[str], values: st.SearchStrategy[str]) -> list[Pair]:
    """Up to three fields of other names."""
    return [(draw(names), draw(values)) for _ in range(draw(st.integers(0, 3)))]


@st.composite
def _known_pairs(draw: Callable[..., Any], fields: list[tuple[str, st.SearchStrategy[str]]], keep: float,
                 others: st.SearchStrategy[list[Pair]]) -> list[Pair]:
    """Each known field `keep` of the time (now and then twice); sometimes other fields."""
    pairs: list[Pair] = []
    for name, strategy in fields:
        roll = draw(st.integers(0, 99))
        if roll < keep * 100:
            pairs.append((name, draw(strategy)))
            if roll < 5:  # a repeated field: two values where one is expected
                pairs.append((name, draw(strategy)))
    if not fields or draw(st.integers(0, 9)) == 0:
        pairs += draw(others)
    return pairs


@st.composite
def _changed_pairs(draw: Callable[..., Any], samples: list[list[Pair]], values: dict[str, st.SearchStrategy[str]],
                   others: st.SearchStrategy[list[Pair]]) -> list[Pair]:
    """What a page submits, each field kept as it was (65%), changed (30%) or left out; sometimes other fields."""
    pairs: list[Pair] = []
    for name, value in draw(st.sampled_from(samples)):
        roll = draw(st.integers(0, 19))
        if roll < 13:
            pairs.append((name, value))
        elif roll < 19:
            pairs.append((name, draw(values[name])))
    if draw(st.integers(0, 9)) == 0:
        pairs += draw(others)
    return pairs


def _live(value: str) -> str:
    """A value with TOTP_NOW replaced by the MFA user's code of this moment (codes live 30 seconds)."""
    return value.replace(TOTP_NOW, pyotp.TOTP(MFA_SECRET).now()) if TOTP_NOW in value else value


def _header_value(text: str) -> str:
    """What HTTP can carry in a header: Latin-1, no line breaks (anything else never reaches the app)."""
    return text.replace("\r", "").replace("\n", "").encode("latin-1", "replace").decode("latin-1")


def _recorded_on_purpose(table: str, row: dict[str, Any]) -> bool:
    """What a refused attempt writes by design: sign-in throttles, and audit events of failed attempts."""
    return table == "login_throttles" or (table == "audit_events" and str(row.get("action", "")).endswith("_failed"))


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
    people = {"owner": Person(portal, world.a.owner, "/me"), "admin": Person(portal, world.a.admin, "/me"),
              "nobody": Person(portal, None), "halfway": Person(portal, world.mfa_user, "/login/mfa")}
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
    SUMMARY.append(f"fuzz on {dialect}: {total.examples} examples in {time.monotonic() - started:.1f}s "
                   f"(set-up and crawl {set_up:.1f}s), answers {dict(sorted(total.statuses.items()))}, "
                   f"{total.restores} restores, {total.sign_ins} sign-ins again, "
                   f"{total.stale_tokens} stale CSRF tokens, "
                   f"{len(total.failures)} failures")
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
