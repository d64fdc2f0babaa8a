"""The peers measured beside the portal, page for page, on the same database kind and the same people:

- `django`: Django admin (Django from PyPI in bench/.venv-django; bench/djangoadmin/), its users changelist
- `fab`: Flask-AppBuilder 5 (bench/.venv-fab; bench/fab/), its users list
- `lean`: an unauthenticated bare Flask + SQLAlchemy + Jinja page on the portal's own database (bench/lean.py)

Each peer maps the portal's page names (users, search, deep, user, members) to its own URL for the same
thing; a page the peer has no counterpart for is not compared. The runner loads each peer's page right
after the portal's and the ceiling's, in every round, and reports the median of the per-round ratios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import load
from bench.inprocess import SEARCH
from bench.procs import Server
from bench.seed import SeedInfo
from bench.snapshot import HOME

if TYPE_CHECKING:
    from bench.pg import Cluster
    from bench.run import Options

ROOT = Path(__file__).resolve().parent.parent
FAB_DIR = ROOT / "bench" / "fab"
FAB_VENV = HOME / ".venv-fab"
DJANGO_DIR = ROOT / "bench" / "djangoadmin"
DJANGO_VENV = HOME / ".venv-django"
PER_PAGE = 20
NAMES = ("django", "fab", "lean")
LABELS = {"django": "Django admin", "fab": "FAB", "lean": "lean page"}
_PACKAGES = {
    "fab": ["flask-appbuilder", "psycopg[binary]", "gunicorn"],
    "django": ["django", "psycopg[binary]", "gunicorn"],
}


@dataclass
class Peer:
    name: str
    server: Server
    pages: dict[str, str]  # the portal's page name -> this peer's path for the same page
    sign_in: tuple[str, dict[str, str], int] | None = None  # login path, fields, expected status
    cookie: str = ""
    seed: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)  # statements, bytes, in-process ms per page
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS[self.name]

    def sign_in_now(self) -> None:
        if self.sign_in:
            path, fields, expect = self.sign_in
            self.cookie = load.sign_in(self.server.port, path, fields, expect)


def _venv(name: str) -> Path:
    return FAB_VENV if name == "fab" else DJANGO_VENV


def install(names: list[str], log: Any) -> None:
    """Each peer's own virtualenv, made on first use (the lean page runs in the portal's)."""
    for name in names:
        venv = _venv(name) if name in _PACKAGES else None
        if venv is None or (venv / "bin" / "gunicorn").exists():
            continue
        log(f"installing {' '.join(_PACKAGES[name])} into {venv}…")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *_PACKAGES[name]], check=True)


def _pages_of(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def _json_line(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **env}).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Seeder:
    """How a peer seeds its database: the command, run in cwd, with the database's URL in env_key."""

    command: list[str]
    cwd: Path
    env_key: str
    extra_env: dict[str, str] = field(default_factory=dict)


def _seeded(
    options: Options, db: str, name: str, n: int, cluster: Cluster | None, portal: SeedInfo, seeder: Seeder
) -> dict[str, Any]:
    """A peer's database: reused on SQLite while the portal's seed it copies is the same, else seeded."""
    if db == "postgresql":
        assert cluster is not None
        url = cluster.create_database(f"{name}_{n}")
        meta = None
    else:
        path = options.data_dir / f"{name}-sqlite-{n}.db"
        url = f"sqlite:///{path}"
        meta = path.with_suffix(".json")
        if meta.exists() and path.exists() and not options.reseed:
            info: dict[str, Any] = json.loads(meta.read_text())
            if info.get("portal_account_id", portal.account_id) == portal.account_id:
                options.log(f"  reusing {path.name}")
                return {**info, "url": url}
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
    options.log(f"  seeding {LABELS[name]} on {db} with {n:,} users…")
    info = _json_line(seeder.command, seeder.cwd, {seeder.env_key: url, **seeder.extra_env})
    info["portal_account_id"] = portal.account_id
    options.log(f"  seeded {LABELS[name]} in {info['seconds']:.0f} s")
    if meta is not None:
        meta.write_text(json.dumps(info))
    return {**info, "url": url}


# --- Flask-AppBuilder ------------------------------------------------------------------------------------


def fab_env(url: str) -> dict[str, str]:
    return {"FAB_DATABASE_URL": url, "FAB_UPDATE_PERMS": "0"}


def fab(options: Options, db: str, n: int, cluster: Cluster | None, portal: SeedInfo, logs: Path) -> Peer:
    """FAB's schema and admin made by its own commands, then N users bulk-filled (bench/fab/seed.py)."""
    seed = _seeded(
        options,
        db,
        "fab",
        n,
        cluster,
        portal,
        Seeder([str(FAB_VENV / "bin" / "python"), "seed.py", str(n)], FAB_DIR, "FAB_DATABASE_URL"),
    )
    size = f"psize_UserDBModelView={PER_PAGE}"
    admin, people = 1, n  # the admin is user 1, the people follow it
    pages = {
        "users": f"/users/list/?{size}",
        "search": f"/users/list/?{size}&_flt_0_email={SEARCH}",  # filter 0 of a string column: starts with
        # FAB's pages count from 0: the third page from the end, as the portal's deep page
        "deep": f"/users/list/?{size}&page_UserDBModelView={_pages_of(admin + people) - 3}",
        "user": f"/users/show/{admin + 1 + people // 2}",
    }
    server = Server("fab", FAB_VENV / "bin" / "gunicorn", "app:app", FAB_DIR, fab_env(seed["url"]), logs / "fab.log")
    return Peer(
        "fab",
        server,
        pages,
        ("/login/", {"username": seed["admin_login"], "password": seed["admin_password"]}, 302),
        seed=seed,
    )


def fab_probe(peer: Peer) -> None:
    for name, path in peer.pages.items():
        peer.probes[name] = _json_line(
            [str(FAB_VENV / "bin" / "python"), "count.py", path], FAB_DIR, fab_env(peer.seed["url"])
        )


# --- Django admin ----------------------------------------------------------------------------------------


def django(options: Options, db: str, n: int, cluster: Cluster | None, portal: SeedInfo, logs: Path) -> Peer:
    """Django's schema by its own `migrate`, its superuser by `createsuperuser`, then the portal's seeded
    people and memberships copied over in bulk (bench/djangoadmin/seed.py)."""
    seed = _seeded(
        options,
        db,
        "django",
        n,
        cluster,
        portal,
        Seeder(
            [str(DJANGO_VENV / "bin" / "python"), "seed.py"],
            DJANGO_DIR,
            "DJANGO_DATABASE_URL",
            {
                "PORTAL_DATABASE_URL": portal.database_url,
                "PORTAL_ACCOUNT_ID": portal.account_id,
                "PORTAL_SAMPLE_USER_ID": portal.sample_user_id,
            },
        ),
    )
    base = "/admin/auth/user/"
    pages = {
        "users": base,
        "search": f"{base}?q={SEARCH}",
        "deep": f"{base}?p={_pages_of(seed['users_total']) - 2}",  # counted from 1: the third from the end
        "user": f"{base}{seed['sample_user_id']}/change/",
        "members": f"{base}?groups__id__exact={seed['big_group_id']}",  # the admin's own group filter
    }
    server = Server(
        "django",
        DJANGO_VENV / "bin" / "gunicorn",
        "wsgi:application",
        DJANGO_DIR,
        {"DJANGO_DATABASE_URL": seed["url"]},
        logs / "django.log",
    )
    return Peer(
        "django",
        server,
        pages,
        ("/admin/login/?next=/admin/", {"username": seed["admin_login"], "password": seed["admin_password"]}, 302),
        seed=seed,
    )


def django_probe(peer: Peer) -> None:
    peer.probes = _json_line(
        [str(DJANGO_VENV / "bin" / "python"), "count.py", *peer.pages.values()],
        DJANGO_DIR,
        {"DJANGO_DATABASE_URL": peer.seed["url"]},
    )
    peer.probes = {name: peer.probes[path] for name, path in peer.pages.items()}


# --- the lean page ---------------------------------------------------------------------------------------


def lean(portal: SeedInfo, logs: Path) -> Peer:
    """bench/lean.py under gunicorn in the portal's virtualenv, on the portal's own database."""
    pages = {
        "users": "/users",
        "search": f"/users?q={SEARCH}",
        "deep": f"/users?page={_pages_of(portal.users + 1) - 2}",
    }  # the people and the owner
    server = Server(
        "lean",
        Path(sys.executable).parent / "gunicorn",
        "bench.lean:app",
        ROOT,
        {"LEAN_DATABASE_URL": portal.database_url, "LEAN_ACCOUNT_ID": portal.account_id},
        logs / "lean.log",
    )
    return Peer("lean", server, pages, seed={"url": portal.database_url})


def lean_probe(peer: Peer) -> None:
    peer.probes = _json_line([sys.executable, "-m", "bench.lean", *peer.pages.values()], ROOT, peer.server.env)
    peer.probes = {name: peer.probes[path] for name, path in peer.pages.items()}


def make(
    names: list[str], options: Options, db: str, n: int, cluster: Cluster | None, portal: SeedInfo, logs: Path
) -> list[Peer]:
    """The peers asked for, seeded (or reused) and probed in-process; not started yet."""
    peers = []
    for name in names:
        if name == "django":
            peer = django(options, db, n, cluster, portal, logs)
            django_probe(peer)
        elif name == "fab":
            peer = fab(options, db, n, cluster, portal, logs)
            fab_probe(peer)
        else:
            peer = lean(portal, logs)
            lean_probe(peer)
        peers.append(peer)
    return peers
