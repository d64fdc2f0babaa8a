# Shared by scripts/demo and scripts/test: a virtualenv in .venv with the portal installed.
# Usage: source scripts/_setup.sh [extra]   (extra = "test" for the test dependencies)
set -euo pipefail
PYTHON=${PYTHON:-python3}
extra=${1:-}
target="."
[ -n "$extra" ] && target=".[$extra]"
stamp=".venv/.installed${extra:+-$extra}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
  touch "$stamp"
fi
