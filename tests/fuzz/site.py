"""What the fuzz knows about the site: its routes (from app.url_map), and each route's form fields and query
parameters, found by reading the pages (forms, inputs, selects, links, hx-* attributes) and the WTForms classes."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.routing.exceptions import RequestRedirect

METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass
class Inputs:
    """The fields one endpoint takes: each name with the values pages offered for it."""

    fields: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    passwords: set[str] = field(default_factory=set)  # names of password inputs: hashing makes these slow
    samples: list[list[tuple[str, str]]] = field(default_factory=list)  # what pages submit, as they stand

    def sample(self, pairs: list[tuple[str, str]]) -> None:
        """Remember a whole submission a page makes (a link's query, a form as it stands), up to 20."""
        if pairs and pairs not in self.samples and len(self.samples) < 20 and all(len(v) <= 500 for _, v in pairs):
            self.samples.append(pairs)

    def add(self, name: str, value: str | None, kind: str = "") -> None:
        if not name or name == "csrf_token":
            return
        values = self.fields[name]
        if value is not None and len(value) <= 200:
            values.add(value)
        if kind == "password":
            self.passwords.add(name)


@dataclass
class Route:
    """One rule and method of the url_map, with what the pages showed it takes."""

    rule: Rule
    method: str
    form: Inputs
    query: Inputs

    @property
    def endpoint(self) -> str:
        return self.rule.endpoint

    @property
    def arguments(self) -> list[tuple[str, str]]:
        """(name, converter) of each URL argument, in order."""
        return [(m["name"], m["converter"] or "default") for m in _ARGUMENT.finditer(self.rule.rule)]

    def path(self, values: dict[str, str]) -> str:
        """The rule with each argument replaced by its value, quoted as a path segment."""
        return _ARGUMENT.sub(lambda m: quote(values[m["name"]], safe=""), self.rule.rule)

    def __repr__(self) -> str:
        return f"{self.method} {self.rule.rule}"


class _PageParser(HTMLParser):
    """Collects the forms of a page (each field, and what a browser would submit as it stands) and every
    address the page links to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.links: list[tuple[str, str]] = []  # (method, url)
        self.orphans: list[tuple[str, tuple[str, str | None, str, bool]]] = []  # (form id, field)
        self._open: dict[str, Any] | None = None
        self._select: dict[str, Any] | None = None
        self._textarea: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for attr, method in (
            ("href", "GET"),
            ("hx-get", "GET"),
            ("hx-post", "POST"),
            ("hx-delete", "DELETE"),
            ("hx-put", "PUT"),
            ("hx-patch", "PATCH"),
        ):
            if a.get(attr) and tag != "link":
                self.links.append((method, a[attr]))
        if tag == "form":
            self._open = {"method": a.get("method", "get").upper(), "action": a.get("action", ""), "fields": []}
            self.forms.append(self._open)
            if a.get("id"):
                self.by_id[a["id"]] = self._open
        elif tag in {"input", "button"} and a.get("name"):
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            sent = kind not in {"checkbox", "radio", "submit", "button", "reset", "image"} or "checked" in a
            self._field(a, (a["name"], a.get("value", "on" if kind == "checkbox" else ""), kind, sent))
        elif tag == "select" and a.get("name"):
            self._select = {"attrs": a, "options": [], "multiple": "multiple" in a}
        elif tag == "option" and self._select is not None:
            self._select["options"].append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea = {"attrs": a, "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "select" and self._select is not None:
            a, options = self._select["attrs"], self._select["options"]
            chosen = [value for value, selected in options if selected]
            if not chosen and options and not self._select["multiple"]:
                chosen = [options[0][0]]
            for value, _ in options:
                self._field(a, (a["name"], value, "option", False))
            for value in chosen:
                self._field(a, (a["name"], value, "option", True))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._field(
                self._textarea["attrs"], (self._textarea["attrs"]["name"], self._textarea["text"], "textarea", True)
            )
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea["text"] += data

    def _field(self, attrs: dict[str, str], entry: tuple[str, str | None, str, bool]) -> None:
        if attrs.get("form"):
            self.orphans.append((attrs["form"], entry))
        elif self._open is not None:
            self._open["fields"].append(entry)


@dataclass
class Site:
    """The routes of the app and the inputs each takes, as far as the crawled pages tell."""

    app: Flask
    routes: list[Route]
    global_fields: set[str]  # every field name any form declares (for routes no page showed a form for)
    global_params: set[str]  # every query parameter any page used
    _adapter: Any = None
    links: dict[str, None] = field(default_factory=dict)  # addresses with a query string the pages link to

    @classmethod
    def discover(cls, app: Flask, skip: Callable[[Rule], bool]) -> Site:
        """Every rule and method of app.url_map (but those skipped), with empty inputs so far."""
        routes = [
            Route(rule, method, Inputs(), Inputs())
            for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
            for method in METHODS
            if method in (rule.methods or ()) and not skip(rule)
        ]
        site = cls(app, routes, set(_wtforms_field_names()), {"from", "take", "after", "before", "q", "next"})
        site._adapter = Map([Rule(r.rule.rule, endpoint=i, methods=[r.method]) for i, r in enumerate(routes)]).bind(
            "localhost"
        )
        return site

    def route_for(self, method: str, url: str) -> Route | None:
        """The route an address of the site leads to with this method, if any."""
        parts = urlsplit(url)
        if parts.netloc and parts.netloc not in {"localhost", "portal.example.com"}:
            return None
        try:
            index, _args = self._adapter.match(parts.path or "/", method=method)
        except (HTTPException, RequestRedirect):
            return None
        return self.routes[index]

    def learn(self, page_url: str, html: str) -> None:
        """Read a page: its forms' fields go to the routes they post to, its links' parameters to theirs."""
        parser = _PageParser()
        parser.feed(html)
        for form_id, entry in parser.orphans:
            if form_id in parser.by_id:
                parser.by_id[form_id]["fields"].append(entry)
        for form in parser.forms:
            method = "GET" if form["method"] == "GET" else "POST"
            action = form["action"] or page_url
            route = self.route_for(method, action)
            if route is None:
                continue
            inputs = route.query if method == "GET" else route.form
            for name, value, kind, _sent in form["fields"]:
                inputs.add(name, value, kind)
                (self.global_params if method == "GET" else self.global_fields).add(name)
            inputs.sample(
                [(name, value or "") for name, value, _kind, sent in form["fields"] if sent and name != "csrf_token"]
            )
            self._learn_query(route, action)
        for method, url in parser.links:
            route = self.route_for(method, url)
            if route is not None:
                self._learn_query(route, url)
                if method == "GET" and urlsplit(url).query:
                    self.links.setdefault(url)

    def _learn_query(self, route: Route, url: str) -> None:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        for name, value in pairs:
            route.query.add(name, value)
            self.global_params.add(name)
        route.query.sample(pairs)


def _wtforms_field_names() -> Iterator[str]:
    """The name of every field of every form class the portal declares (imported with its blueprints)."""
    from flask_wtf import FlaskForm
    from wtforms.fields.core import UnboundField

    seen: set[type] = set()
    pending: list[type] = [FlaskForm]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
    for cls in seen:
        if cls.__module__.startswith("portal."):
            for name in dir(cls):
                if isinstance(getattr(cls, name, None), UnboundField):
                    yield name


def combinations(route: Route, pools: dict[str, list[str]], limit: int = 12) -> Iterable[dict[str, str]]:
    """Up to `limit` assignments of real values to the route's arguments (for crawling its pages)."""
    names = [name for name, _ in route.arguments]
    choices = [pools.get(name) or [] for name in names]
    return itertools.islice((dict(zip(names, values, strict=True)) for values in itertools.product(*choices)), limit)
