#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md, the parity tests and the sweep on a CUDA machine, in one run.
# Needs JAX with CUDA, numpy, pytest, hypothesis and pytest-benchmark; TensorFlow is not needed
# (the Keras tests skip). Run from the repository root: `bash benchmarks/gpu_check.sh [outdir]`.
set -u
out=${1:-${OUT:-gpu-results}}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$py" -c 'import jax, numpy, platform; print("python", platform.python_version(), "jax", jax.__version__, "numpy", numpy.__version__, jax.devices())'
} 2>&1 | tee "$out/env.txt"

# 1. Figures: numpy on this machine's CPUs, JAX on the GPU (fraction of the GPU's own float32
#    matmul peak at 'highest' precision, i.e. TF32 off), batch scaling up to 8192 on full epochs.
timeout 200 "$py" -m mlp_parity bench --backends numpy,jax --batch-sizes 128,512,2048,8192 \
    --scaling-samples 60000 --check-examples 100 --json "$out/bench_gpu.json" 2>&1 | tee "$out/bench.txt"

# 2. Parity on the GPU: numpy against JAX property tests (float64, and float32 against a
#    float64 reference at float32 tolerance: TF32 would fail these), training trajectories.
HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci} timeout 200 "$py" -m pytest -q -x \
    tests/test_parity.py tests/test_train.py tests/test_backends.py 2>&1 | tee "$out/pytest.txt"
echo "pytest exit: ${PIPESTATUS[0]}" | tee -a "$out/pytest.txt"

# 3. The jax epoch's lax.scan unroll (jax's scan_unroll engine option): at small batches a GPU epoch is
#    bound by per-step latency, which unrolling may cut; rounds alternate the settings.
timeout 150 "$py" benchmarks/scan_unroll.py --unrolls 1,2,4,8,16 --batch-sizes 128,1024 \
    --rounds 3 --json "$out/scan_unroll.json" 2>&1 | tee "$out/scan_unroll.txt"

# 4. Sweeps (issue 18): train_many's total rate at K models at once against the GPU's own
#    float32 matmul peak, beside one train(); a batch-128 step is latency-bound there, so K
#    models should fill the device until it saturates.
timeout 200 "$py" benchmarks/sweep_scaling.py --ks 1,4,16,64,256 --rounds 2 --epochs 3 \
    --json "$out/sweep_scaling.json" 2>&1 | tee "$out/sweep_scaling.txt"
