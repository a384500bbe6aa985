#!/usr/bin/env bash
# The checks to run on a real NVIDIA GPU machine, in one go (a session lent one runs this there).
# Needs: python3 with torch, rich, psutil, nvidia-ml-py (the GPU image has them). Writes to $OUT
# (default ./gpu-session-out):
#   nvidia-smi.txt      `nvidia-smi -q` of the machine
#   nvml-readings.json  raw NVML readings, the fixture format tests/fake_nvml.py replays
#   gpu-recording.json  the whole machine in MLTUI_REPLAY's format (NVML with P2P/NVLink, the
#                       readings under a GEMM per GPU, torch's devices): tests/fixtures/gpus/
#   check-replayed.json `mltui check --json` replayed from gpu-recording.json on the same
#                       machine, for the differences between replay and the real run
#                       (replay-vs-real.txt)
#   check.json          `mltui check --json` (all libraries, exit status in check.rc)
#   samples.log         torch and tensorflow samples with --device cuda, scikit-learn on cpu
#   perf.json           `mltui perf --json` (every GPU and the CPU baseline; exit status in
#                       perf.rc, wall time in perf.time), perf.txt the same rendered for a person
#   perf-vs-datasheet.txt  each measured figure against mltui's derived peak and the datasheet
# Then, here: copy gpu-recording.json to tests/fixtures/gpus/<name>.json (it replaces the
# hand-transcribed recording of the same machine; note in BENCHMARKS.md what replay-vs-real.txt
# shows); copy nvml-readings.json to tests/fixtures/nvml/<name>.json (with its nvidia-smi.txt)
# and add <name> to the fixture list of the NVML tests; copy perf.json to
# tests/fixtures/perf/<name>.json (tests/test_perf.py validates and re-judges every file there)
# and put the fractions of perf-vs-datasheet.txt into BENCHMARKS.md.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-session-out}
mkdir -p "$OUT"
PY=$(command -v "${PYTHON:-python3}")
case $PY in /*) ;; *) PY=$PWD/$PY ;; esac  # absolute, without resolving a venv's symlink
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
name=${1:-gpu-$(date +%Y%m%d)}
nvidia-smi -q > "$OUT/nvidia-smi.txt" 2>&1
(cd tests/fixtures/nvml && $PY record.py "$name" "recorded by bench/gpu_session.sh on $(hostname)") \
  > "$OUT/nvml-readings.json" 2> "$OUT/record.err"
$PY tests/fixtures/gpus/record_machine.py "$name" > "$OUT/gpu-recording.json" 2> "$OUT/gpu-recording.err"
$PY -m tui.cli check --json --timeout 180 > "$OUT/check.json" 2> "$OUT/check.err"
echo $? > "$OUT/check.rc"
MLTUI_REPLAY="$OUT/gpu-recording.json" $PY -m tui.cli check --json --timeout 180 \
  > "$OUT/check-replayed.json" 2> "$OUT/check-replayed.err"
$PY -c "import json,sys; real,rep=(json.load(open(p)) for p in sys.argv[1:3]); \
gpus=lambda c: [(g['uuid'],g['name'],g['memory_total_bytes']) for g in c['nvml']['gpus']]; \
devs=lambda c: sorted((l['name'],d['kind'],d['name'],d['uuid']) for l in c['libraries'] \
for d in l['devices'] if d['kind']!='cpu'); \
print('NVML GPUs equal:', gpus(real)==gpus(rep)); print('library devices equal:', \
devs(real)==devs(rep)); print('only real:', sorted(set(devs(real))-set(devs(rep)))); \
print('only replayed:', sorted(set(devs(rep))-set(devs(real))))" \
  "$OUT/check.json" "$OUT/check-replayed.json" > "$OUT/replay-vs-real.txt" 2>&1
{
  for sample in torch_tensors tensorflow_add; do
    echo "=== $sample --device cuda"
    timeout 300 $PY content/samples/$sample.py --device cuda; echo "exit $?"
  done
  echo "=== sklearn_digits --device cpu"
  timeout 120 $PY content/samples/sklearn_digits.py --device cpu; echo "exit $?"
  echo "=== caffe_lenet (OpenCV DNN)"
  timeout 120 $PY content/samples/caffe_lenet.py; echo "exit $?"
} > "$OUT/samples.log" 2>&1
$PY -m tui.cli check --only torch > "$OUT/check-torch.txt" 2>&1
started=$(date +%s.%N)
$PY -m tui.cli perf --json --seconds 120 > "$OUT/perf.json" 2> "$OUT/perf.err"
echo $? > "$OUT/perf.rc"
echo "$(date +%s.%N) - $started" | bc > "$OUT/perf.time" 2>/dev/null || true
$PY -c "import json,sys; from rich.console import Console; from probes.model import from_dict; \
from probes.perf_model import PerfReport; from tui.cli.perf import render_perf; \
from tui.presentation import terminal_theme; \
Console(width=120, theme=terminal_theme()).print(render_perf(from_dict(PerfReport, \
json.load(open(sys.argv[1])))))" "$OUT/perf.json" > "$OUT/perf.txt" 2>&1
$PY bench/perf_compare.py "$OUT/perf.json" > "$OUT/perf-vs-datasheet.txt" 2>&1
echo "done: $(ls "$OUT")"
