#!/usr/bin/env bash
# Every owed GPU benchmark in one run (list and sizes: benchmarks/gpu_suite.py).
#
#   benchmarks/gpu_suite.sh OUTDIR                        # GPU machine: < 9 minutes
#   benchmarks/gpu_suite.sh OUTDIR --device cpu --quick   # dry run of the same list on a CPU
#
# Wheels the GPU image lacks (benchmarks/fetch_wheels.sh puts them in .whl) are installed
# first into /tmp/graft-site, with no index (the GPU machine reaches no registry); set
# GRAFT_WHEELS to use another folder. graft itself is imported from ./src.
set -uo pipefail
if [ $# -lt 1 ] || [ "${1:0:1}" = "-" ]; then
  sed -n '2,9p' "$0"; exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
wheels="${GRAFT_WHEELS:-$root/.whl}"
py="${PYTHON:-python3}"
site=""
if compgen -G "$wheels/*.whl" >/dev/null; then
  site=/tmp/graft-site
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$wheels"/*.whl || { echo "installing wheels from $wheels failed"; exit 1; }
fi
export PYTHONPATH="$root/src${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$py" "$root/benchmarks/gpu_suite.py" "$@"
