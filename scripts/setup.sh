#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: a virtual environment with holoops and its test tools, and the
# system tools the tests drive for real (promtool/prometheus, amtool/alertmanager, prometheus-node-exporter,
# chromium, shellcheck).
# Re-running it does nothing that is already done. Usage: scripts/setup.sh [--no-system]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${HOLOOPS_VENV:-.venv}

if [ "${1:-}" != "--no-system" ]; then
  need=()
  command -v promtool   >/dev/null 2>&1 || need+=(prometheus)
  command -v amtool     >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  command -v prometheus-node-exporter >/dev/null 2>&1 || need+=(prometheus-node-exporter)
  command -v chromium   >/dev/null 2>&1 || need+=(chromium)
  command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

stamp="$VENV/.holoops-installed"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
# reinstall when the project or the C accelerator's source changed (pip builds it in place)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ holoops/analyze/_minecore.c -nt "$stamp" ]; then
  echo "setup: installing holoops[dev] into $VENV (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
"$VENV/bin/python" -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
if "$VENV/bin/python" -c "import holoops.analyze._minecore" 2>/dev/null; then
  native="C template-mining core built"
else
  native="C template-mining core NOT built (no compiler?): pure-Python fallback, same results, slower"
fi
echo "setup: ready ($("$VENV/bin/holoops" --version); $native)"
