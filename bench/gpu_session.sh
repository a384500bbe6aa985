#!/usr/bin/env bash
# The checks to run on a real NVIDIA GPU machine, in one go (a session lent one runs this there).
# Needs: python3 with torch, rich, psutil, nvidia-ml-py (the GPU image has them). Writes to $OUT
# (default ./gpu-session-out):
#   nvidia-smi.txt      `nvidia-smi -q` of the machine
#   nvml-readings.json  raw NVML readings, the fixture format tests/fake_nvml.py replays
#   check.json          `mltui check --json` (all libraries, exit status in check.rc)
#   samples.log         torch and tensorflow samples with --device cuda, scikit-learn on cpu
# Then, here: copy nvml-readings.json to tests/fixtures/nvml/<name>.json (with its nvidia-smi.txt)
# and add <name> to the fixture list of the NVML tests.
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
$PY -m tui.cli check --json --timeout 180 > "$OUT/check.json" 2> "$OUT/check.err"
echo $? > "$OUT/check.rc"
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
echo "done: $(ls "$OUT")"
