"""Prometheus metrics (issue 19), served at /metrics to a bearer of METRICS_TOKEN.

Counted as they happen, in the process that serves the request: request count and latency by
endpoint, method and status (`portal_request_duration_seconds`; its `_count` is the request
count), sign-in failures, lockouts, 429s, API requests by status, and every event written to the
`portal.events` log. Under gunicorn each worker is a process of its own: gunicorn.conf.py sets
PROMETHEUS_MULTIPROC_DIR, every worker writes its counts there (prometheus-client's multiprocess
mode) and a scrape of any worker adds them up.

Read at scrape time from the shared stores, so every process reports the same: the outbox
(emails by status, the age of the oldest queued one), jobs by state, and whether the database and the
rate-limit store answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

# Seconds; most pages take 5-50 ms, a CSV export of a big account a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

REQUEST_SECONDS = Histogram(
    "portal_request_duration_seconds",
    "Time to answer a request (until the first byte of a streamed one), by endpoint, method and status.",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
SIGN_IN_FAILURES = Counter(
    "portal_sign_in_failures", "Sign-in attempts refused (wrong password or code, or locked out), by step.", ["step"]
)
LOCKOUTS = Counter("portal_lockouts", "Lockouts started or lengthened (a login, an address or a second factor).")
RATE_LIMITED = Counter("portal_rate_limited", "Requests refused with 429 Too Many Requests, by endpoint.", ["endpoint"])
API_REQUESTS = Counter(
    "portal_api_requests", "Requests to the JSON API (and SCIM), by API and status.", ["api", "status"]
)
EVENTS = Counter("portal_events", "Events written to the portal.events log, by event.", ["event"])

# The endpoints whose 401 answer is a failed sign-in, and the step it failed at.
SIGN_IN_STEPS = {"auth.login": "password", "auth.account_login": "password", "auth.login_mfa": "second_factor"}
# Path prefixes of the machine interfaces.
APIS = (("/api/", "v1"), ("/scim/", "scim"))


def observe_request(endpoint: str | None, method: str, path: str, status: int, seconds: float | None) -> None:
    """Count one answered request in the request, sign-in, 429 and API metrics."""
    name = endpoint or "(unmatched)"
    if seconds is not None:
        REQUEST_SECONDS.labels(name, method, str(status)).observe(seconds)
    if status == 401 and method == "POST" and name in SIGN_IN_STEPS:
        SIGN_IN_FAILURES.labels(SIGN_IN_STEPS[name]).inc()
    if status == 429:
        RATE_LIMITED.labels(name).inc()
    for prefix, api in APIS:
        if path.startswith(prefix):
            API_REQUESTS.labels(api, str(status)).inc()


def count_event(event: str) -> None:
    """Count an event of the portal.events log (a lockout also in portal_lockouts_total)."""
    EVENTS.labels(event).inc()
    if event == "lockout":
        LOCKOUTS.inc()


class _ThisProcess:
    """The metrics counted in this process (no gunicorn: the development server, tests)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class _StoreCollector:
    """Gauges read from the shared stores at scrape time (needs an app context)."""

    def collect(self) -> Iterator[Metric]:
        from portal.ops import checks

        up = GaugeMetricFamily(
            "portal_dependency_up", "Whether a store the portal needs answers (1) or not (0).", labels=["dependency"]
        )
        database = checks.database()
        up.add_metric(["database"], 1.0 if database.ok else 0.0)
        store = checks.rate_limit_store()
        if store is not None:
            up.add_metric(["rate_limit_store"], 1.0 if store.ok else 0.0)
        yield up
        if database.ok:
            yield from _outbox()
            yield from _jobs()


def _outbox() -> Iterator[Metric]:
    from portal.mail.queries import outbox_backlog

    backlog = outbox_backlog()
    emails = GaugeMetricFamily(
        "portal_outbox_emails",
        "Emails in the outbox waiting to be sent (queued) or given up on (failed).",
        labels=["status"],
    )
    for status, count in backlog.counts.items():
        emails.add_metric([status], float(count))
    yield emails
    yield GaugeMetricFamily(
        "portal_outbox_oldest_queued_age_seconds",
        "How long the oldest email still queued has waited (0: none waits).",
        value=backlog.oldest_queued_age_seconds,
    )


def _jobs() -> Iterator[Metric]:
    from portal.jobs.queries import counts_by_state

    gauge = GaugeMetricFamily(
        "portal_jobs", "Jobs by state (queued and running: the worker's backlog).", labels=["state"]
    )
    for state, count in counts_by_state().items():
        gauge.add_metric([state], float(count))
    yield gauge


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, merged across gunicorn's workers, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client's own
    else:
        registry.register(_ThisProcess())
    registry.register(_StoreCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def sample(text: str, name: str, **labels: Any) -> float | None:
    """The value of one sample in an exposition text (tests and scripts read metrics with it)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == str(v) for k, v in labels.items()):
                return float(found.value)
    return None
