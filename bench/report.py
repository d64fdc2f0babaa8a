"""Markdown tables from results files: the figures of each run, and the issue's targets checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_CEILING = 0.25
# Issue 20: every page against the peers' same page (bench/peers.py), at 100k and 1M users.
TARGET_PEERS = {"django": 5.0, "fab": 10.0, "lean": 1.0}
PEER_LABELS = {"django": "Django admin", "fab": "FAB", "lean": "lean page"}
TARGET_SCALE = 1.2
TARGET_P99_MS = 100.0  # issue 20
TARGET_RSS_MB = 150.0


def _configs(files: list[Path]) -> list[dict[str, Any]]:
    configs = []
    for file in files:
        data = json.loads(file.read_text())
        for config in data["configs"]:
            configs.append({**config, "_file": file.name, "_machine": data["machine"], "_command": data["command"]})
    return configs


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def figures(config: dict[str, Any]) -> str:
    probes = {p["name"]: p for p in config["probes"]}
    whatif = f", what-if: {', '.join(config['whatif'])}" if config.get("whatif") else ""
    rows = [
        f"#### {config['db']}, {config['users']:,} users{whatif}",
        "",
        "| page | req/s | p50 ms | p99 ms | SQL | bytes | in-process ms | ceiling req/s | × ceiling (rounds) "
        "| × FAB (rounds) | × Django admin (rounds) | × lean page (rounds) | worker RSS MB | other load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|",
    ]
    for name, s in config["summary"].items():
        if name.startswith("_"):
            continue
        p = probes.get(name, {})
        ceiling_rounds = ", ".join(f"{x:.3f}" for x in s["vs_ceiling_rounds"])
        peers = " | ".join(
            f"**{_fmt(s.get(f'vs_{peer}'), 2)}** ({', '.join(f'{x:.2f}' for x in s.get(f'vs_{peer}_rounds', []))})"
            for peer in ("fab", "django", "lean")
        )
        rows.append(
            f"| {name} | {_fmt(s['rps'])} | {_fmt(s['p50_ms'])} | {_fmt(s['p99_ms'])} | {p.get('statements', '')} "
            f"| {p.get('bytes', '')} | {_fmt(p.get('ms'))} | {_fmt(s['ceiling_rps'])} | **{s['vs_ceiling']:.3f}** "
            f"({ceiling_rounds}) | {peers} | {_fmt(s['rss_mb'])} "
            f"| {s['foreign_cpu_max']:.2f} |"
        )
    for peer, label in PEER_LABELS.items():  # the peers' own pages (results files before issue 20: FAB's list)
        for name, s in config["summary"].items():
            theirs = s.get("peers", {}).get(peer) if not name.startswith("_") else None
            if theirs is None and name == "_fab" and peer == "fab" and "peers" not in config["summary"]["users"]:
                theirs = {**s, "url": "/users/list/"}
            if theirs:
                pp = config.get("peer_probes", {}).get(peer, {}).get(name) or config.get("fab_probe") or {}
                rows.append(
                    f"| {label} {theirs['url']} | {_fmt(theirs['rps'])} | {_fmt(theirs['p50_ms'])} "
                    f"| {_fmt(theirs['p99_ms'])} | {pp.get('statements', '')} | {pp.get('bytes', '')} "
                    f"| {_fmt(pp.get('ms'))} | | | | | | {_fmt(theirs['rss_mb'])} | |"
                )
    for name in config.get("skipped", []):
        rows.append(f"| {name} | not in this build | | | | | | | | | | | | |")
    extra = [p for p in config["probes"] if p["name"] not in config["summary"] and not p.get("note")]
    for p in extra:
        rows.append(
            f"| {p['name']} (in-process only) | | | | {p['statements']} | {p['bytes']} | {_fmt(p['ms'])} "
            "| | | | | | | |"
        )
    csv = config.get("csv")
    if csv:
        rows.append("")
        rows.append(
            f"CSV export: {csv['rows']:,} rows, {csv['bytes'] / 1e6:,.1f} MB in {csv['seconds']} s "
            f"({csv['rows_per_s']:,} rows/s); worker RSS {csv['rss_before_mb']} MB before, "
            f"peak {csv['rss_peak_mb']} MB during (gunicorn --timeout {csv['worker_timeout']})."
        )
        cut = config.get("csv_with_default_timeout")
        if cut:
            rows.append(
                f"With gunicorn's default --timeout 30 the stream was cut after {cut['rows']:,} rows "
                f"({cut['seconds']} s, curl exit {cut['curl_exit']})."
            )
    return "\n".join(rows)


Results = dict[tuple[str, int], dict[str, Any]]  # (database, users) -> one configuration's results


def _pages(by_key: Results, db: str, n: int) -> dict[str, Any]:
    config = by_key.get((db, n))
    return {k: v for k, v in config["summary"].items() if not k.startswith("_")} if config else {}


def _sizes(by_key: Results, db: str) -> list[int]:
    return sorted(n for d, n in by_key if d == db)


def _ceiling(by_key: Results, db: str) -> str | None:
    summary = _pages(by_key, db, 1_000_000)
    if not summary:
        return None
    return "<br>".join(
        f"{'✅' if s['vs_ceiling'] >= TARGET_CEILING else '❌'} {k} {s['vs_ceiling']:.3f}×" for k, s in summary.items()
    )


def _peer(name: str) -> Callable[[Results, str], str | None]:
    def check(by_key: Results, db: str) -> str | None:
        out = []
        for n in (100_000, 1_000_000):
            for k, s in _pages(by_key, db, n).items():
                ratio = s.get(f"vs_{name}")
                if ratio is not None:
                    out.append(f"{'✅' if ratio >= TARGET_PEERS[name] else '❌'} {n:,} {k} {ratio:.2f}×")
        return "<br>".join(out) or None

    return check


def _scale(by_key: Results, db: str) -> str | None:
    small, big = _pages(by_key, db, 10_000), _pages(by_key, db, 1_000_000)
    if not small or not big:
        return None
    ratios = {k: small[k]["rps"] / big[k]["rps"] for k in small if k in big and big[k]["rps"]}
    return "<br>".join(f"{'✅' if ratio <= TARGET_SCALE else '❌'} {k} {ratio:.2f}×" for k, ratio in ratios.items())


def _p99(by_key: Results, db: str) -> str | None:
    out = []
    for n in _sizes(by_key, db):
        worst = max(_pages(by_key, db, n).items(), key=lambda kv: kv[1]["p99_ms"])
        out.append(
            f"{'✅' if worst[1]['p99_ms'] <= TARGET_P99_MS else '❌'} {n:,}: worst {worst[0]} "
            f"{worst[1]['p99_ms']:.0f} ms"
        )
    return "<br>".join(out) or None


def _rss(by_key: Results, db: str) -> str | None:
    out = []
    for n in _sizes(by_key, db):
        config = by_key[(db, n)]
        peak = max(
            [s["rss_mb"] for s in _pages(by_key, db, n).values()] + [(config.get("csv") or {}).get("rss_peak_mb", 0)]
        )
        out.append(f"{'✅' if peak <= TARGET_RSS_MB else '❌'} {n:,}: {peak:.0f} MB")
    return "<br>".join(out) or None


def _csv(by_key: Results, db: str) -> str | None:
    out = []
    for n in _sizes(by_key, db):
        c = by_key[(db, n)].get("csv")
        cut = by_key[(db, n)].get("csv_with_default_timeout")
        if c:
            growth = c["rss_peak_mb"] - c["rss_before_mb"]
            complete = c["rows"] == n and not cut
            note = f" only with --timeout 0 (the default 30 s cut it at {cut['rows']:,} rows)" if cut else ""
            out.append(
                f"{'✅' if complete and growth < 20 else '❌'} {n:,}: {c['rows']:,} rows, "
                f"+{growth:.0f} MB, {c['seconds']} s{note}"
            )
    return "<br>".join(out) or None


_TARGETS: list[tuple[str, Callable[[Results, str], str | None]]] = [
    ("every page at 1M ≥ 0.25 × bare ceiling", _ceiling),
    *[
        (f"every page at 100k and 1M ≥ {target:g} × {PEER_LABELS[name]}'s same page", _peer(name))
        for name, target in TARGET_PEERS.items()
    ],
    ("req/s at 10k ÷ req/s at 1M ≤ 1.2", _scale),
    (f"p99 ≤ {TARGET_P99_MS:g} ms at 16 connections", _p99),
    ("worker RSS ≤ 150 MB", _rss),
    ("/users.csv streamed whole in constant memory", _csv),
]


def targets(configs: list[dict[str, Any]]) -> str:
    """The issue's targets, page by page and database by database."""
    by_key: Results = {(c["db"], c["users"]): c for c in configs if not c.get("whatif")}
    dbs = sorted({db for db, _ in by_key})
    lines = ["| target | " + " | ".join(dbs) + " |", "|---|" + "---|" * len(dbs)]
    for label, check in _TARGETS:
        cells = [result if isinstance(result := check(by_key, db), str) else "—" for db in dbs]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(files: list[Path]) -> str:
    configs = _configs(files)
    parts = ["### Targets", "", targets(configs), "", "### Figures", ""]
    for config in configs:
        parts += [figures(config), ""]
    return "\n".join(parts)


def compare(before: list[Path], after: list[Path]) -> str:
    """Before and after, page by page, for the databases and sizes both runs measured."""
    old = {(c["db"], c["users"]): c for c in _configs(before)}
    new = {(c["db"], c["users"]): c for c in _configs(after)}
    rows = [
        "| database, users | page | req/s before → after | p99 ms before → after | in-process ms before → after "
        "| × ceiling before → after |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(old.keys() & new.keys(), key=lambda k: (k[0], k[1])):
        a, b = old[key], new[key]
        probes_a = {p["name"]: p for p in a["probes"]}
        probes_b = {p["name"]: p for p in b["probes"]}
        for page, s in b["summary"].items():
            if page.startswith("_") or page not in a["summary"]:
                continue
            t = a["summary"][page]
            rows.append(
                f"| {key[0]}, {key[1]:,} | {page} | {t['rps']:,.1f} → **{s['rps']:,.1f}** | {t['p99_ms']:,.0f} → "
                f"{s['p99_ms']:,.0f} | {probes_a.get(page, {}).get('ms', 0):,.1f} → "
                f"{probes_b.get(page, {}).get('ms', 0):,.1f} "
                f"| {t['vs_ceiling']:.3f} → {s['vs_ceiling']:.3f} |"
            )
    return "\n".join(rows)
