# Sourced by scripts/test and scripts/demo: make ./.venv exist and hold exactly what
# pyproject.toml + constraints.txt ask for. Installs only when one of them changed.
# Needs Python 3.11+ (python3.11 or python3 on PATH, or $PYTHON) and network access to PyPI.

UV_VERSION=0.13.9

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local python stamp wanted
  if [ ! -x .venv/bin/python ]; then
    python=$(find_python)
    echo "creating .venv with $("$python" --version)" >&2
    "$python" -m venv .venv
  fi
  stamp=.venv/.coopmarket-install
  wanted=$(cat pyproject.toml constraints.txt | .venv/bin/python -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read() + sys.version.encode()).hexdigest())')
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ] || [ ! -x .venv/bin/coopmarket ]; then
    echo "installing coopmarket and its pinned dependencies into .venv ..." >&2
    # uv resolves and installs the same pins about three times faster than pip (CI installs on
    # every run); pip does it when uv cannot be had.
    if .venv/bin/python -m pip install -qq --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null; then
      .venv/bin/uv pip install -q --python .venv/bin/python -c constraints.txt -e '.[test]'
    else
      .venv/bin/python -m pip install -qq --disable-pip-version-check -c constraints.txt -e '.[test]'
    fi
    echo "$wanted" >"$stamp"
  fi
}
