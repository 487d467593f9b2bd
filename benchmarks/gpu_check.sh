#!/usr/bin/env bash
# minigrad on a real NVIDIA GPU, in one run of a few minutes: what works and how fast.
#
#     bash benchmarks/gpu_check.sh                      # from anywhere; ~2-5 minutes
#     GPU_CHECK_DATA=~/data bash benchmarks/gpu_check.sh  # a folder holding cifar10-jpg.tar.gz
#
# Stages, each logged with its time; their results go to one summary file:
#   0. setup: minigrad importable as minigrad.nn / minigrad.optim. An installed
#      copy of this checkout is used as it is; else `pip install -e .` (no
#      network needed); else a folder under /tmp that lays the checkout out as
#      the installed package (minigrad/nn -> nn, minigrad/optim -> optim), put
#      on PYTHONPATH.
#   1. env: the GPU and driver (nvidia-smi), Python, NumPy, CuPy, PyTorch.
#   2. tests: the cuda half of the test suite on the real CuPy (every test
#      whose name says cuda, every test marked as needing a real GPU, and
#      tests/test_kernels.py): pass/fail counts and the failures' names.
#   3. bench: benchmarks/bench_train_step.py --device cuda for LeNet and VGG
#      at batch 512, next to PyTorch on the same GPU, in float32 and in TF32.
#   4. cifar: examples/cifar10_cnn.py --device cuda for a few epochs on the
#      real CIFAR-10 (skipped, and said so, when it is not found: this script
#      never downloads), with test accuracy and training images/s.
# The exit status is nonzero when a stage failed; the summary is written anyway.
#
# Every size and limit is an environment variable (defaults in brackets):
#   PYTHON [python3]           the interpreter
#   SUMMARY [gpu_check_summary.txt]  the summary file (copied to $OUT when OUT is set,
#                              with the stages' full logs under $OUT/gpu_check_logs)
#   GPU_CHECK_LOGS [a new /tmp/gpu_check.XXXX]  folder for the full logs
#   GPU_CHECK_BUDGET [300]     seconds for the whole run: no stage runs past it
#   GPU_CHECK_STAGES [env tests bench cifar]
#   GPU_CHECK_INSTALL [auto]   auto | pip | shim | none (use what is importable)
#   GPU_CHECK_TEST_TIMEOUT [150]   GPU_CHECK_TEST_ARGS []  (more pytest arguments)
#   GPU_CHECK_BENCH_NETS [lenet vgg]
#   GPU_CHECK_BENCH_MODES [fp32 tf32]  (unfused: float32 with MINIGRAD_FUSED_KERNELS=0)
#   GPU_CHECK_BENCH_BATCH [512]   GPU_CHECK_BENCH_STEPS [20]   GPU_CHECK_BENCH_WARMUP [3]
#   GPU_CHECK_BENCH_TIMEOUT [60]  (each net and mode)
#   GPU_CHECK_DATA []          folder with CIFAR-10 (exported as MINIGRAD_DATA)
#   GPU_CHECK_CIFAR [lenet:2 vgg:1]  model:epochs runs of cifar10_cnn.py
#   GPU_CHECK_CIFAR_ARGS []    more arguments for them (e.g. --batch-size 256 --lr 0.004)
#   GPU_CHECK_CIFAR_TIMEOUT [60]  (each run)   GPU_CHECK_DECODE_TIMEOUT [90]
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }  # paths given are from here
SUMMARY=$(absolute "${SUMMARY:-gpu_check_summary.txt}")
LOGS=$(absolute "${GPU_CHECK_LOGS:-$(mktemp -d /tmp/gpu_check.XXXXXX)}")
mkdir -p "$LOGS"
[ -n "${OUT:-}" ] && OUT=$(absolute "$OUT")
[ -n "${GPU_CHECK_DATA:-}" ] && export MINIGRAD_DATA=$(absolute "$GPU_CHECK_DATA")
BUDGET=${GPU_CHECK_BUDGET:-300}
STAGES=${GPU_CHECK_STAGES:-env tests bench cifar}
export PYTHONUNBUFFERED=1        # logs grow line by line, so a stage cut short still shows its output
export MINIGRAD_CUPY_STAND_IN=0  # the test suite must use the real CuPy, never its stand-in
cd "$REPO" || exit 2

START=$(date +%s)
DEADLINE=$((START + BUDGET))
FAILED=()
: 2> /dev/null > "$SUMMARY" || { SUMMARY="$LOGS/gpu_check_summary.txt"; : > "$SUMMARY"; }
if [ ! -w "${HOME:-/nonexistent}" ]; then  # a read-only home: CuPy's kernels and the data cache go to $LOGS
    export CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-$LOGS/cupy_cache} MINIGRAD_CACHE=${MINIGRAD_CACHE:-$LOGS/cache}
fi

say() { echo "$*" | tee -a "$SUMMARY"; }

finish() {
    local status=0
    [ ${#FAILED[@]} -gt 0 ] && status=1
    say ""
    say "== total $(( $(date +%s) - START )) s; failed stages: ${FAILED[*]:-none}; full logs in $LOGS"
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT/gpu_check_logs"
        cp "$SUMMARY" "$OUT/" 2>/dev/null
        cp "$LOGS"/*.log "$LOGS"/*.xml "$OUT/gpu_check_logs/" 2>/dev/null
    fi
    exit $status
}
trap finish EXIT
trap 'FAILED+=("interrupted"); exit 130' INT TERM

# limit WANTED: the seconds a step may take, within what is left of the budget (0: none left).
limit() {
    local left=$((DEADLINE - $(date +%s) - 8))
    if [ "$left" -lt 10 ]; then echo 0; elif [ "$1" -lt "$left" ]; then echo "$1"; else echo "$left"; fi
}

# run NAME SECONDS CMD...: CMD with its output in $LOGS/NAME.log, stopped after SECONDS
# (SIGINT first, so Python prints where it was; SIGKILL 5 s later). Returns CMD's status,
# 124 when it ran out of time, 125 when the budget was spent before it started.
run() {
    local name=$1 seconds
    seconds=$(limit "$2")
    shift 2
    : > "$LOGS/$name.log"
    if [ "$seconds" -eq 0 ]; then
        say "   $name: not run, the ${BUDGET} s budget is spent"
        return 125
    fi
    local t0=$(date +%s) status
    # --foreground: the command stays in the terminal's process group, so Ctrl-C reaches it too
    timeout --foreground --signal=INT --kill-after=5 "$seconds" "$@" > "$LOGS/$name.log" 2>&1 < /dev/null
    status=$?
    [ $status -eq 137 ] && status=124
    say "   $name: exit $status$([ $status -eq 124 ] && echo " (stopped after ${seconds} s)"), $(( $(date +%s) - t0 )) s"
    return $status
}

stage() {  # stage NAME: a header with the time so far
    say ""
    say "== $1 (at $(( $(date +%s) - START )) s)"
}

wants() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }

# ------------------------------------------------------------------ 0. setup
stage "setup: import minigrad.nn and minigrad.optim from $REPO"
importable() {  # minigrad.nn and minigrad.optim import, from this checkout (not another copy)
    (cd /tmp && "$PY" -c "
import os, sys, minigrad, minigrad.nn, minigrad.optim
here = os.path.realpath(os.path.dirname(minigrad.nn.__file__))
sys.exit(0 if here == os.path.realpath(sys.argv[1]) else 1)" "$REPO/nn") > /dev/null 2>&1
}
MODE=${GPU_CHECK_INSTALL:-auto}
HOW=""
if [ "$MODE" != shim ] && importable; then
    HOW="already installed"
elif [ "$MODE" = auto ] || [ "$MODE" = pip ]; then
    timeout 90 "$PY" -m pip install --quiet --no-deps --no-build-isolation -e . > "$LOGS/setup_pip.log" 2>&1 \
        && importable && HOW="pip install -e ."
fi
if [ -z "$HOW" ] && { [ "$MODE" = auto ] || [ "$MODE" = shim ]; }; then
    # The installed layout by hand: a minigrad/ whose entries link to this checkout's,
    # plus nn and optim. Relative imports in nn/ and optim/ name their package
    # (minigrad.nn), not a folder, so `from ..tensor import Tensor` still finds minigrad.tensor.
    SHIM=$(mktemp -d /tmp/minigrad_shim.XXXXXX)
    mkdir "$SHIM/minigrad"
    for entry in "$REPO"/minigrad/*; do
        [ "$(basename "$entry")" = __pycache__ ] || ln -s "$entry" "$SHIM/minigrad/"
    done
    ln -s "$REPO/nn" "$SHIM/minigrad/nn"
    ln -s "$REPO/optim" "$SHIM/minigrad/optim"
    export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
    # `python -m pytest` puts the current folder (this checkout, whose minigrad/ lacks nn)
    # first on sys.path; PYTHONSAFEPATH stops that, for pytest only (Python 3.11+; on older
    # ones use pip install -e . instead).
    SAFEPATH=1
    importable && HOW="PYTHONPATH=$SHIM (minigrad/nn -> nn, minigrad/optim -> optim)"
fi
if [ -z "$HOW" ]; then
    say "   cannot import minigrad.nn from $REPO (GPU_CHECK_INSTALL=$MODE; see $LOGS/setup_pip.log)"
    FAILED+=("setup")
    exit 1
fi
say "   minigrad: $HOW"

# ------------------------------------------------------------------ 1. environment
if wants env; then
    stage "env"
    if command -v nvidia-smi > /dev/null; then
        say "   $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
    else
        say "   nvidia-smi: not found"
    fi
    if run env 30 "$PY" -c "
import platform, numpy, minigrad
from minigrad import backend
print('Python', platform.python_version(), '| NumPy', numpy.__version__, end='')
if backend._cupy is None:
    print(' | CuPy: not importable')
else:
    print(' | CuPy', backend._cupy.__version__, '| CUDA runtime', backend._cupy.cuda.runtime.runtimeGetVersion(),
          '| stand-in' if getattr(backend._cupy, 'IS_STAND_IN', False) else '')
try:
    import torch
    print('PyTorch', torch.__version__, '| CUDA', torch.cuda.is_available())
except ImportError:
    print('PyTorch: not installed')
print('minigrad', minigrad.__version__, '| minigrad.cuda.is_available():', minigrad.cuda.is_available())
raise SystemExit(0 if minigrad.cuda.is_available() else 3)
"; then :; else FAILED+=("env"); fi
    sed 's/^/   /' "$LOGS/env.log" | tee -a "$SUMMARY"
fi

# ------------------------------------------------------------------ 2. tests
if wants tests; then
    stage "tests: the cuda half of the suite on the real CuPy"
    # Which tests: a pytest plugin, since -k alone cannot also pick the GPU-only tests
    # (marked by tests/gpu_only.py's requires_gpu) whose names do not say cuda.
    cat > "$LOGS/gpu_check_select.py" << 'EOF'
def _needs_gpu(item):
    return any("GPU" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif"))


def pytest_collection_modifyitems(config, items):
    keep = [i for i in items if "cuda" in i.nodeid.lower() or _needs_gpu(i)
            or i.nodeid.startswith("tests/test_kernels.py")]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep
EOF
    TEST_ARGS=(-p no:cacheprovider -p gpu_check_select -o addopts= -v -rfEs
               --junitxml="$LOGS/tests.xml")
    "$PY" -c "import pytest_timeout" 2> /dev/null && TEST_ARGS+=(--timeout=120)
    # shellcheck disable=SC2086
    PYTHONPATH="$LOGS${PYTHONPATH:+:$PYTHONPATH}" PYTHONSAFEPATH=${SAFEPATH:-} \
        run tests "${GPU_CHECK_TEST_TIMEOUT:-150}" "$PY" -m pytest "${TEST_ARGS[@]}" \
        ${GPU_CHECK_TEST_ARGS:-} tests/
    status=$?
    # pytest's last line counts them ("3 failed, 120 passed, ... in 80.1s"); cut short, count the -v lines
    counts=$(grep -E '[0-9]+ (passed|failed|errors?|skipped|deselected).* in [0-9.]+s' "$LOGS/tests.log" \
             | tail -1 | sed -E 's/^=+ //; s/ =+$//')
    if [ -n "$counts" ]; then
        say "   $counts"
    elif [ $status -ne 125 ]; then
        say "   (no final count) $(grep -cE ' PASSED' "$LOGS/tests.log") passed, $(grep -cE ' FAILED' \
            "$LOGS/tests.log") failed, $(grep -cE ' ERROR' "$LOGS/tests.log") errors, $(grep -cE \
            ' SKIPPED' "$LOGS/tests.log") skipped before it stopped"
    fi
    grep -E '^(FAILED|ERROR) ' "$LOGS/tests.log" | sed 's/^/   /' | cut -c1-300 | tee -a "$SUMMARY"
    # Skipped cuda tests on a GPU machine usually mean CuPy was not usable: say why (-rs lines).
    grep -E '^SKIPPED \[' "$LOGS/tests.log" | sort -t'[' -k2 -rn | head -5 | cut -c1-200 \
        | sed 's/^/   /' | tee -a "$SUMMARY"
    [ $status -eq 0 ] || FAILED+=("tests")
fi

# ------------------------------------------------------------------ 3. benchmark
if wants bench; then
    stage "bench: one training step, minigrad (CuPy) next to PyTorch (CUDA)"
    bench_failed=0
    for mode in ${GPU_CHECK_BENCH_MODES:-fp32 tf32}; do
        for net in ${GPU_CHECK_BENCH_NETS:-lenet vgg}; do
            extra=() fused=1
            [ "$mode" = tf32 ] && extra=(--tf32)
            [ "$mode" = unfused ] && fused=0  # float32 without the fused CUDA kernels
            MINIGRAD_FUSED_KERNELS=$fused run "bench_${net}_$mode" "${GPU_CHECK_BENCH_TIMEOUT:-60}" \
                "$PY" benchmarks/bench_train_step.py --device cuda --net "$net" \
                --batch "${GPU_CHECK_BENCH_BATCH:-512}" --steps "${GPU_CHECK_BENCH_STEPS:-20}" \
                --warmup "${GPU_CHECK_BENCH_WARMUP:-3}" ${extra[@]+"${extra[@]}"} || bench_failed=1
            # the GPU and TF32 settings line, then the table (from the "<net>: batch ..." line on)
            grep -E '^GPU |^minigrad: CUPY_TF32' "$LOGS/bench_${net}_$mode.log" | head -1 | cut -c1-200 \
                | sed 's/^/   /' | tee -a "$SUMMARY"
            sed -n "/^$net: batch/,\$p" "$LOGS/bench_${net}_$mode.log" | sed 's/^/   /' | tee -a "$SUMMARY"
            grep -E 'Error|error:' "$LOGS/bench_${net}_$mode.log" | tail -3 | sed 's/^/   /' | tee -a "$SUMMARY"
        done
    done
    [ $bench_failed -eq 0 ] || FAILED+=("bench")
fi

# ------------------------------------------------------------------ 4. CIFAR-10
if wants cifar; then
    stage "cifar: examples/cifar10_cnn.py --device cuda on CIFAR-10"
    # Find it first, from where the example runs (./data counts): the example would try to
    # download it, and a lent machine has no network.
    if ! found=$("$PY" -c "from minigrad.data import find_cifar10; print(find_cifar10())" 2> /dev/null); then
        say "   CIFAR-10 not found (MINIGRAD_DATA=${MINIGRAD_DATA:-unset}, ./data, ~/.cache/minigrad): skipped"
    else
        say "   data: $found"
        # Decoding 60,000 JPEGs takes a few seconds once; the example then reads the cached arrays.
        if run cifar_decode "${GPU_CHECK_DECODE_TIMEOUT:-90}" "$PY" -c "
from minigrad.data import CIFAR10
print(len(CIFAR10(train=True)), 'training and', len(CIFAR10(train=False)), 'test images')"; then
            cifar_failed=0
            for run_spec in ${GPU_CHECK_CIFAR:-lenet:2 vgg:1}; do
                model=${run_spec%%:*} epochs=${run_spec#*:}
                # shellcheck disable=SC2086
                run "cifar_$model" "${GPU_CHECK_CIFAR_TIMEOUT:-60}" "$PY" examples/cifar10_cnn.py \
                    --device cuda --model "$model" --epochs "$epochs" --no-plots --quiet \
                    --out "$LOGS/runs_$model" ${GPU_CHECK_CIFAR_ARGS:-} || cifar_failed=1
                grep -E '^(train [0-9]|epoch +[0-9])' "$LOGS/cifar_$model.log" | cut -c1-160 | sed 's/^/   /' \
                    | tee -a "$SUMMARY"
                grep -E 'training images/s|Error|error:' "$LOGS/cifar_$model.log" | tail -3 | sed 's/^/   /' \
                    | tee -a "$SUMMARY"
            done
            [ $cifar_failed -eq 0 ] || FAILED+=("cifar")
        else
            tail -3 "$LOGS/cifar_decode.log" | sed 's/^/   /' | tee -a "$SUMMARY"
            FAILED+=("cifar")
        fi
    fi
fi
