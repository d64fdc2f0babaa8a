"""The benchmark's peers (issue 20): the ratios to each peer's same page, as medians of per-round ratios,
and the lean page on a small seeded database (its list, email-prefix search and deep page)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.run import summarize

ROOT = Path(__file__).resolve().parents[2]


def _load(rps: float) -> dict[str, Any]:
    return {
        "rps": rps,
        "p50_ms": 10.0,
        "p99_ms": 20.0,
        "rss_kb": (1024,),
        "non_2xx": 0,
        "errors": 0,
        "foreign_cpu": 0.0,
    }


def test_each_peer_ratio_is_the_median_of_the_rounds_ratios_to_its_same_page() -> None:
    rounds = [
        {
            "pages": {
                "users": {"portal": _load(300), "ceiling": _load(1000), "django": _load(100), "lean": _load(600)},
                "user": {"portal": _load(200), "ceiling": _load(1000), "django": _load(50)},
            }
        },
        {
            "pages": {
                "users": {"portal": _load(100), "ceiling": _load(1000), "django": _load(50), "lean": _load(50)},
                "user": {"portal": _load(300), "ceiling": _load(1000), "django": _load(100)},
            }
        },
        {
            "pages": {
                "users": {"portal": _load(200), "ceiling": _load(1000), "django": _load(50), "lean": _load(200)},
                "user": {"portal": _load(100), "ceiling": _load(1000), "django": _load(100)},
            }
        },
    ]
    config = {
        "rounds": rounds,
        "pages": ["users", "user"],
        "peer_urls": {
            "django": {"users": "/admin/auth/user/", "user": "/admin/auth/user/1/change/"},
            "lean": {"users": "/users"},
        },
    }

    summary = summarize(config)

    # per round 3, 2, 4: the median of the ratios, not the ratio of the medians (200 / 50 = 4)
    assert summary["users"]["vs_django_rounds"] == [3.0, 2.0, 4.0]
    assert summary["users"]["vs_django"] == 3.0
    assert summary["users"]["vs_lean_rounds"] == [0.5, 2.0, 1.0]
    assert summary["users"]["vs_lean"] == 1.0
    assert summary["users"]["peers"]["django"]["rps"] == 50.0
    assert summary["user"]["vs_django"] == 3.0
    assert summary["user"]["vs_lean"] is None  # the lean page has no user page: not compared
    assert summary["users"]["vs_fab"] is None and "_fab" not in summary


def test_the_lean_page_lists_searches_and_pages_the_seeded_people(tmp_path: Path) -> None:
    from bench.seed import seed

    info = seed(f"sqlite:///{tmp_path / 'lean.db'}", 45, log=lambda _line: None)
    env = {**os.environ, "LEAN_DATABASE_URL": info.database_url, "LEAN_ACCOUNT_ID": info.account_id}
    paths = ["/users", "/users?q=user1", "/users?page=3", "/users?q=nobody"]
    out = subprocess.run(
        [sys.executable, "-m", "bench.lean", *paths], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    probes = json.loads(out.strip().splitlines()[-1])
    assert all(probe["status"] == 200 and probe["statements"] == 2 for probe in probes.values())

    from flask.testing import FlaskClient

    os.environ.update({k: env[k] for k in ("LEAN_DATABASE_URL", "LEAN_ACCOUNT_ID")})
    try:
        sys.modules.pop("bench.lean", None)
        from bench import lean

        client: FlaskClient = lean.app.test_client()
        first = client.get("/users").get_data(as_text=True)
        assert "46 people, page 1 of 3" in first  # 45 people and the owner
        assert len(re.findall(r"<tr><td><a ", first)) == 20
        # user1, user10 … user19: an email prefix, not a substring
        found = client.get("/users?q=User1").get_data(as_text=True)
        assert "11 people, page 1 of 1" in found
        assert set(re.findall(r"<td>(user\d+)\.", found)) == {"user1", *(f"user1{i}" for i in range(10))}
        last = client.get("/users?page=3").get_data(as_text=True)
        assert len(re.findall(r"<tr><td><a ", last)) == 6
        lean.engine.dispose()
    finally:
        for key in ("LEAN_DATABASE_URL", "LEAN_ACCOUNT_ID"):
            os.environ.pop(key, None)
        sys.modules.pop("bench.lean", None)
