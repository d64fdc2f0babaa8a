"""python -m bench run|smoke|profile|report — see bench/README.md."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _ints(value: str) -> list[int]:
    return [int(x.replace("_", "").replace("k", "000").replace("M", "000000")) for x in value.split(",") if x]


def _dbs(value: str) -> list[str]:
    names = [x.strip() for x in value.split(",") if x.strip()]
    for name in names:
        if name not in ("sqlite", "postgresql"):
            raise argparse.ArgumentTypeError(f"unknown database {name!r} (sqlite, postgresql)")
    return names


def _whatif(value: str) -> list[str]:
    if not value:
        return []
    from bench.whatif import names

    return names(value)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="the full benchmark")
    run.add_argument("--users", type=_ints, default=[10_000, 100_000, 1_000_000], help="e.g. 10000,100000,1000000")
    run.add_argument("--db", type=_dbs, default=["sqlite", "postgresql"], help="sqlite,postgresql")
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--duration", type=float, default=5.0, help="seconds of each load run")
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--connections", type=int, default=16)
    run.add_argument("--no-fab", action="store_true", help="leave the Flask-AppBuilder peer out")
    run.add_argument("--no-django", action="store_true", help="leave the Django admin peer out")
    run.add_argument("--no-lean", action="store_true", help="leave the lean Flask page out")
    run.add_argument("--no-csv", action="store_true", help="do not stream /users.csv")
    run.add_argument("--loader", choices=["wrk", "python"], default="wrk")
    run.add_argument("--reseed", action="store_true", help="seed SQLite databases again even if they exist")
    run.add_argument("--pg-port", type=int, default=55440)
    run.add_argument("--out", type=Path, help="the JSON results (default bench/results/<time>.json)")
    run.add_argument("--whatif", default="", help="bench/whatif.py fixes to apply (before/after figures only)")
    run.add_argument("--no-snapshot", action="store_true", help="run the working tree itself, not a frozen copy")

    smoke = commands.add_parser("smoke", help="a few seconds, small N, the Python loader: CI's check")
    smoke.add_argument("--users", type=int, default=300)
    smoke.add_argument("--database-url", default="", help="a PostgreSQL database to seed (emptied); SQLite otherwise")
    smoke.add_argument("--data-dir", type=Path, required=True)

    profile = commands.add_parser("profile", help="py-spy record of the portal's workers under wrk, for one page")
    profile.add_argument("--users", type=int, required=True)
    profile.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    profile.add_argument(
        "--page", required=True, help="users, search, deep, user, members, csv, or a path; several with commas"
    )
    profile.add_argument("--duration", type=float, default=10.0)
    profile.add_argument("--pg-port", type=int, default=55440)
    profile.add_argument("--name", default="", help="the file name stem under bench/profiles/")
    profile.add_argument("--whatif", default="", help="bench/whatif.py fixes to apply")
    profile.add_argument("--no-snapshot", action="store_true", help="run the working tree itself, not a frozen copy")

    split = commands.add_parser("breakdown", help="where the users page's time goes in-process (SQLite)")
    split.add_argument("--users", type=int, default=100_000, help="a seeded SQLite size in bench/.data")
    split.add_argument("--runs", type=int, default=300)

    scim = commands.add_parser("scim", help="SCIM: users provisioned per second (POST), userName eq lookups per second")
    scim.add_argument("--users", type=int, default=10_000)
    scim.add_argument("--lookups", type=int, default=2_000)
    scim.add_argument("--threads", type=int, default=4)
    scim.add_argument("--database-url", default="", help="an empty PostgreSQL database; SQLite otherwise")
    scim.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent / ".data")

    report = commands.add_parser("report", help="markdown tables of one or more results files")
    report.add_argument("files", type=Path, nargs="+")
    report.add_argument("--before", type=Path, nargs="*", default=[], help="earlier results: a before/after table")

    sso_bench = commands.add_parser("sso", help="SSO sign-in and the sign-in page with SSO on (in-process)")
    sso_bench.add_argument("--n", type=int, default=50, help="people, each timed signing in twice")
    sso_bench.add_argument(
        "--mock-as-shipped",
        action="store_true",
        help="leave oidc-provider-mock re-importing (and checking) its RSA key at every token",
    )
    args = parser.parse_args(argv)
    command = "python -m bench " + shlex.join(argv)
    if args.command in ("run", "profile") and not args.no_snapshot:
        from bench import snapshot

        if not snapshot.in_snapshot():
            snapshot.take(argv)  # does not return: the same command, from a frozen copy of the tree
    if args.command == "run":
        from bench.run import Options
        from bench.run import run as run_benchmark

        run_benchmark(
            Options(
                users=args.users,
                dbs=args.db,
                rounds=args.rounds,
                duration=args.duration,
                threads=args.threads,
                connections=args.connections,
                fab=not args.no_fab,
                django=not args.no_django,
                lean=not args.no_lean,
                loader=args.loader,
                reseed=args.reseed,
                pg_port=args.pg_port,
                csv=not args.no_csv,
                out=args.out,
                command=command,
                whatif=_whatif(args.whatif),
            )
        )
        return 0
    if args.command == "sso":
        from bench.sso import run as run_sso

        run_sso(args.n, mock_as_shipped=args.mock_as_shipped)
        return 0
    if args.command == "scim":
        from bench.scim import main as scim_main

        return scim_main(args.users, args.database_url, args.data_dir, args.threads, args.lookups)
    if args.command == "smoke":
        from bench.smoke import smoke as run_smoke

        return 0 if run_smoke(args.users, args.data_dir, args.database_url) else 1
    if args.command == "profile":
        from bench.profile import profile as run_profile

        run_profile(args.db, args.users, args.page, args.duration, args.pg_port, args.name, _whatif(args.whatif))
        return 0
    if args.command == "breakdown":
        from bench.breakdown import breakdown, describe
        from bench.run import Options, portal_database

        info = portal_database(Options(users=[args.users], dbs=["sqlite"]), "sqlite", args.users, None)
        print(describe(breakdown(info, args.runs)))
        return 0
    if args.command == "report":
        from bench.report import compare
        from bench.report import report as render_report

        print(compare(args.before, args.files) if args.before else render_report(args.files))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
