"""What a web worker imports at start (issue 20: worker RSS <= 150 MB): the modules only the CLI (Alembic), a
readiness probe (Alembic) or a sign-in through an identity provider (Authlib, requests, joserfc) needs load when
first used, not in every worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LATE = ("alembic", "authlib", "requests", "joserfc", "mako")


def test_the_app_starts_without_the_cli_s_and_sso_s_libraries(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from portal import create_app\n"
        f"create_app({{'DATABASE_URL': 'sqlite:///{tmp_path / 'x.db'}', 'SECRET_KEY': 'x' * 40}})\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(LATE)!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
