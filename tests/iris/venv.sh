#!/usr/bin/env bash
# Builds the Python venv the tests that drive real Iris use (tests/conformance, ...): CPython 3.12
# (Iris needs 3.12 or 3.13; pyenv's, as this machine has no Debian 3.12), the pinned marin-iris
# wheel and its dependencies at the versions of tests/iris/constraints.txt, all from PyPI.
#
#   tests/iris/venv.sh [DIR]     DIR defaults to target/iris/venv
#
# Prints the venv's python on success. Idempotent: a venv that already imports the pinned Iris
# is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/iris
dir=${1:-${CARGO_TARGET_DIR:-target}/iris/venv}
pin=$(sed -n 's/^marin-iris==//p' "$here/constraints.txt")

if [ -x "$dir/bin/python" ] && "$dir/bin/python" - "$pin" >/dev/null 2>&1 <<'PY'
import importlib.metadata, sys
import iris.cluster.controller.reconcile  # noqa: F401  the kernel imports
sys.exit(importlib.metadata.version("marin-iris") != sys.argv[1])
PY
then
    echo "$dir/bin/python"
    exit 0
fi

# A Python 3.12: pyenv's, or one on the PATH.
python=""
for candidate in \
    "${IRIS_TASK_PYTHON312:-}" \
    "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -1)" \
    "$(command -v python3.12 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then python=$candidate; break; fi
done
if [ -z "$python" ]; then
    echo "no Python 3.12 found (pyenv's 3.12.x, python3.12 on the PATH, or IRIS_TASK_PYTHON312)" >&2
    exit 1
fi

rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
"$python" -m venv "$dir" >&2
pip=("$dir/bin/pip" install --quiet --disable-pip-version-check -c "$here/constraints.txt")
# The pinned wheel, then the finelog packages Iris imports (the stable marin-finelog pip would pick
# is too old for this Iris; the constraints name the prerelease that works).
"${pip[@]}" "marin-iris==$pin" >&2
"${pip[@]}" --pre marin-finelog marin-finelog-server >&2
"$dir/bin/python" -c "import iris.cluster.controller.reconcile" >&2
echo "$dir/bin/python"
