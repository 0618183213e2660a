#!/usr/bin/env bash
# Every GPU check of the performance issues, as one script (a CUDA machine with torch and triton):
#   OUT=DIR bash benchmarks/gpu_check.sh        (run from the repository root)
# 1. the Triton/CUDA parity tests (neuron kernels, the fused SDFA block forward, the SDFA fast
#    path on CUDA, event-driven products);
# 2. the sparse/dense crossover on the GPU -> DIR/benchmarks/results/sparse_crossover_gpu.json;
# 3. the full train-step table on real input (the headline) -> DIR/benchmarks/results/train_step_gpu.json,
#    and the synthetic stress case -> DIR/benchmarks/results/train_step_gpu_synthetic.json
#    (copy DIR/benchmarks/results/* into benchmarks/results/ to commit them; each JSON names the commit).
# Logs: DIR/env.txt, DIR/gpu_tests.txt, DIR/*.txt.
# Real data: DATA=dir (default: ../shared/data, else ./shared/data; the embedded digits where absent).
# SpikingJelly reference rows: SJ_WHEELS="path/spikingjelly-*.whl path/loguru-*.whl" installs those
# wheels with --no-deps first (never with dependencies: they would replace torch).
# Dry run without a GPU (what the CPU test suite runs): DEVICE=cpu TRITON_INTERPRET=1 QUICK=1 OUT=DIR bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-gpu_out}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
RES="$OUT/benchmarks/results"
mkdir -p "$RES"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${DATA:-}" ]; then
  if [ -d ../shared/data ]; then DATA=../shared/data; else DATA=./shared/data; fi
fi
status=0
{ nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"; git rev-parse HEAD 2>/dev/null; \
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"; \
  $PY -c "import triton; print('triton', triton.__version__)"; echo "data: $DATA"; } 2>&1 | tee "$OUT/env.txt"
if [ -n "${SJ_WHEELS:-}" ]; then
  $PY -m pip install --no-deps --no-index $SJ_WHEELS 2>&1 | tail -1 | tee -a "$OUT/env.txt"
fi
if [ -n "${QUICK:-}" ]; then   # dry run: a few cases of each step
  TESTS_K="triton and (lif-hard or chunks or refuses or instantaneous)"
  BENCH=(--only nmnist-mlp2 --warmup 1 --repeats 1 --train-steps 2 --no-reference --no-spikingjelly --in-process)
  XOVER=(--repeats 1)
else
  TESTS_K="triton or cuda or event or sparse or crossover"
  BENCH=(--warmup 3 --repeats 10)
  XOVER=(--repeats 5)
fi
timeout 240 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/test_kernels.py tests/test_sdfa_fast.py \
  tests/test_triton_sdfa.py tests/test_sparse.py -k "$TESTS_K" 2>&1 | tee "$OUT/gpu_tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 90 $PY benchmarks/sparse_crossover.py --device "$DEVICE" "${XOVER[@]}" \
  --out "$RES/sparse_crossover_gpu.json" 2>&1 | tee "$OUT/sparse_crossover.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 300 $PY benchmarks/train_step.py --device "$DEVICE" --input real --data "$DATA" "${BENCH[@]}" \
  --out "$RES/train_step_gpu.json" 2>&1 | tee "$OUT/train_step_gpu.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
timeout 150 $PY benchmarks/train_step.py --device "$DEVICE" --input synthetic "${BENCH[@]}" \
  --out "$RES/train_step_gpu_synthetic.json" 2>&1 | tee "$OUT/train_step_gpu_synthetic.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "gpu_check done (status $status)"
exit $status
