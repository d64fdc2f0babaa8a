"""The fuzzer: draws requests (hypothesis), sends them, and checks the properties after each one.

tests/fuzz/test_fuzz_routes.py builds what it works on (the site, the world, the people) and runs it route
by route."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pyotp
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from portal.extensions import limiter
from tests import db_state
from tests.fuzz import values
from tests.fuzz.site import Inputs, Route, Site
from tests.fuzz.world import MFA_SECRET, MISSING, Person, World

# CI draws the same examples every run; another seed explores elsewhere: PORTAL_FUZZ_SEED=7 PORTAL_FUZZ_EXAMPLES=50000
SEED = int(os.environ["PORTAL_FUZZ_SEED"]) if os.environ.get("PORTAL_FUZZ_SEED") else None
TRACE = bool(os.environ.get("PORTAL_FUZZ_TRACE"))  # print every request and its answer
TOTP_NOW = "{totp-now}"  # stands for the MFA user's current code (see _live)
CONFIRMATION = "_confirmation"  # "password_confirmation" repeats "password"
HEADERS = [
    "User-Agent",
    "X-Correlation-Id",
    "X-Forwarded-For",
    "Referer",
    "HX-Target",
    "HX-Current-URL",
    "HX-Boosted",
    "HX-History-Restore-Request",
    "Accept-Language",
]


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
        return (
            f"{self.who}: {self.route.method} {self.route.path(self.args)} query={query!r} form={form!r} "
            f"headers={self.headers!r} csrf={self.csrf}"
        )


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
        return _request(
            _Plan(
                route=route,
                arguments=self.arguments(route),
                query=self.pairs(route.query, self.site.global_params, keep=0.5 if route.method == "GET" else 0.1),
                form=self.pairs(route.form, self.site.global_fields, keep=0.85)
                if route.method != "GET"
                else st.just([]),
                people=st.sampled_from(who),
                headers={name: self.value(name) for name in HEADERS},
                confirmed=[
                    name
                    for name in route.form.fields
                    if name.endswith(CONFIRMATION) and name[: -len(CONFIRMATION)] in route.form.fields
                ],
                api_key=self.world.api_key if route.rule.rule.startswith("/api/") else "",
            )
        )

    def pairs(self, inputs: Inputs, extra: set[str], keep: float) -> st.SearchStrategy[list[Pair]]:
        """Name-value pairs, half the time what a page submits with some values changed, else each known name
        most of the time (now and then twice); sometimes other names too."""
        others = _extra_pairs(
            st.sampled_from(sorted(extra - set(inputs.fields)) or ["x"]) | self.value("name"), self.value("")
        )
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
            response = person.client.open(
                url,
                method=route.method,
                query_string=request.query,
                data=form if route.method != "GET" else None,
                headers=headers,
                content_type="multipart/form-data" if request.multipart else None,
            )
            body = response.get_data()  # a streamed answer fails while it is read
            response.close()
            status = response.status_code
            location = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
            if status == 400 and request.csrf == "valid" and b"This form has expired" in body:
                self.outcome.stale_tokens += 1  # the harness's token went stale: a wasted example, not a finding
                person.refresh_token()
        except Exception as error:  # an exception out of the app: what a browser gets as a bare 500
            self.errors.records.append(
                logging.makeLogRecord({"msg": f"{type(error).__name__}: {error}", "levelno": logging.ERROR})
            )
        elapsed = time.monotonic() - started
        self.outcome.statuses[status // 100 * 100] = self.outcome.statuses.get(status // 100 * 100, 0) + 1
        if TRACE:
            print(f"{status} {request.describe()[:300]}")
        answers = self.outcome.by_route.setdefault(repr(route), {})
        answers[status] = answers.get(status, 0) + 1
        logged = self.errors.take()
        if status >= 500:
            first = logged.splitlines()[0] if logged else ""
            self.outcome.fail(
                ("500", repr(route), first.split(":")[0]), f"{status} in {elapsed:.2f}s: {request.describe()}\n{logged}"
            )
        self.check_database(request, status)
        if urlsplit(location).path.startswith("/login") and person.probe is not None:
            self.keep_signed_in(person)
        else:
            person.keep_token()  # the answer may have renewed the session, and with it the CSRF token

    def check_database(self, request: Request, status: int) -> None:
        mark = db_state.write_mark(self.app)
        if mark is not None and mark == self.world.mark:
            return  # the common case, as cheaply as can be: nothing was written at all
        fingerprint = db_state.fingerprint(self.app)
        if fingerprint == self.world.fingerprint:
            self.world.mark = mark  # something was written (a session's last-seen time): nothing that counts
            return
        changed = [
            name
            for name, now, then in zip(db_state.table_names(), fingerprint, self.world.fingerprint, strict=True)
            if now != then
        ]
        after = db_state.take(self.app, changed)
        difference = db_state.compare({name: self.world.baseline[name] for name in changed}, after)
        if not difference:
            self.world.mark = mark
            return
        refused = 400 <= status < 500 or request.route.method == "GET"
        unexpected = [(table, row) for table, row in difference.rows() if not _recorded_on_purpose(table, row)]
        if refused and unexpected:
            self.outcome.fail(
                ("changed", repr(request.route), str(status)),
                f"{status} changed the database: {request.describe()}\n{difference.summary()}",
            )
        # An attempt to sign in to B is B's to record (throttles, failed attempts); nothing else of B may change.
        if any(self.world.touches_b(row) for _table, row in unexpected):
            self.outcome.fail(
                ("tenant B", repr(request.route)),
                f"{status} changed tenant B: {request.describe()}\n{difference.summary()}",
            )
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

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=SEED is None,
            database=None,
            print_blob=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
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
        pairs = [
            (name, given_.get(name[: -len(CONFIRMATION)], value) if name in plan.confirmed else value)
            for name, value in pairs
        ]
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
    return Request(
        draw(plan.people), plan.route, args, query, pairs, headers, csrf, multipart=draw(st.integers(0, 19)) == 0
    )


@st.composite
def _extra_pairs(draw: Callable[..., Any], names: st.SearchStrategy[str], values: st.SearchStrategy[str]) -> list[Pair]:
    """Up to three fields of other names."""
    return [(draw(names), draw(values)) for _ in range(draw(st.integers(0, 3)))]


@st.composite
def _known_pairs(
    draw: Callable[..., Any],
    fields: list[tuple[str, st.SearchStrategy[str]]],
    keep: float,
    others: st.SearchStrategy[list[Pair]],
) -> list[Pair]:
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
def _changed_pairs(
    draw: Callable[..., Any],
    samples: list[list[Pair]],
    values: dict[str, st.SearchStrategy[str]],
    others: st.SearchStrategy[list[Pair]],
) -> list[Pair]:
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
