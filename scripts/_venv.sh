# Sourced by the scripts: create .venv with Python 3.11 and install the pinned requirements
# when they changed since the last install: the file in $venv_requirements, requirements.txt
# (the product: scripts/run, serve, manage) when unset; scripts/test sets requirements-dev.txt
# (the product's requirements and the test tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requirements=${venv_requirements:-requirements.txt}
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.${requirements}.sha"
want=$(cat requirements.txt "$requirements" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p var
