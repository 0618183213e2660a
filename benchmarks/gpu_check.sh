#!/usr/bin/env bash
# The CUDA checks of the kernels issue, as one script (a CUDA machine with torch and triton):
# Triton parity tests, the SDFA fast path on CUDA, and benchmarks/train_step.py on the GPU.
#   OUT=DIR bash benchmarks/gpu_check.sh        (run from the repository root)
# Writes DIR/env.txt, DIR/gpu_tests.txt, DIR/train_step_cuda.json and .txt.
# Optional SpikingJelly reference rows: SJ_WHEELS="path/spikingjelly-*.whl path/loguru-*.whl" installs
# those wheels with --no-deps first (never with dependencies: they would replace torch).
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{ nvidia-smi -L; $PY -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$OUT/env.txt"
if [ -n "${SJ_WHEELS:-}" ]; then
  $PY -m pip install --no-deps --no-index $SJ_WHEELS 2>&1 | tail -1 | tee -a "$OUT/env.txt"
fi
timeout 170 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/test_kernels.py tests/test_sdfa_fast.py -k "triton or cuda" 2>&1 | tee "$OUT/gpu_tests.txt"
timeout 200 $PY benchmarks/train_step.py --device cuda --warmup 3 --repeats 10 --out "$OUT/train_step_cuda.json" 2>&1 | tee "$OUT/train_step_cuda.txt"
echo "gpu_check done"
