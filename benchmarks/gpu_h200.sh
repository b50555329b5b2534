#!/usr/bin/env bash
# H200 figures for benchmarks/README.md: images/s, MFU and speed-up ratios of the CIFAR10 paper
# configs' training steps (CT recipe: batch 512; ACT-Aug recipe: batch 80, R1 every 16), and the
# projected GPU-hours of every run of paper/cifar10 (ACT: 300k iterations), and the small networks of the
# default config (toy MLP and digits MLP, batch 128; digits UNet batch 32; CT, iCT and ACT) eager, lean, flat, compiled.
#   bash benchmarks/gpu_h200.sh [OUT_DIR]      # from the repository root; one GPU; ~12 min
# Writes OUT_DIR (default reports/perf/h200): bench_fp32.{json,md}, bench_bf16.{json,md}, small_nets.{json,md},
# digits_unet.{json,md}, estimate.json, frechet_cpu.json (the Fréchet distance's ratio on this machine's CPU).
# The distance is LPIPS when its weights are in resources/lpips (the paper setting), else l2 (said in
# the JSON's overrides): LPIPS adds two VGG passes per generator step.
set -euo pipefail
out=${1:-reports/perf/h200}
mkdir -p "$out"
distance=()
if [ ! -d resources/lpips ]; then
    echo "resources/lpips not found: timing with the l2 distance instead of LPIPS" >&2
    distance=(--distance l2)
fi
runs=('*/ct/batch512/*' '*/act/*/aug-on/*')
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.csv"

# fp32 as both papers trained, then bf16 autocast; each with every speed-up switched in turn.
act-bench bench paper/cifar10 --device cuda --runs "${runs[@]}" "${distance[@]}" --steps 16 --repeats 5 \
    --variants none default default-foreach default-lean_radam default-flat default-sdpa default-prefetch \
    default+channels_last default+tf32 default+compile_optimizer \
    --out "$out/bench_fp32.json" --markdown "$out/bench_fp32.md" > /dev/null
act-bench bench paper/cifar10 --device cuda --runs "${runs[@]}" "${distance[@]}" --precision bf16 --steps 16 \
    --repeats 5 --variants none default default+channels_last \
    --out "$out/bench_bf16.json" --markdown "$out/bench_bf16.md" > /dev/null

# The small networks, where framework overhead rather than arithmetic sets the step time: lean_radam and
# flat (default), and torch.compile of G + EMA, of D outside R1 iterations and of the optimiser steps; the
# default config's toy MLP and digits MLP, then the digits UNet of benchmarks/step_config.yaml.
act-bench bench default --device cuda --runs '*/toy2d-8gaussians/*/seed0' '*/digits/*/seed0' \
    --steps 16 --repeats 5 --variants none default default-flat default-lean_radam default+compile \
    default+compile+compile_d default+compile+compile_d+compile_optimizer \
    --out "$out/small_nets.json" --markdown "$out/small_nets.md" > /dev/null
act-bench bench benchmarks/step_config.yaml --device cuda --runs '*/digits/*' --steps 16 --repeats 5 \
    --variants none default default-flat --out "$out/digits_unet.json" --markdown "$out/digits_unet.md" > /dev/null

# Projected wall time and GPU-hours of every run (train + 50k-sample evaluation), config settings.
act-bench estimate paper/cifar10 --device cuda "${distance[@]}" --steps 32 --warmup 8 --out "$out/estimate.json"

# Optional (minutes of compilation in the warm-up): torch.compile of G and its EMA.
#   act-bench bench paper/cifar10 --device cuda --runs '*/act/*/aug-on/*' "${distance[@]}" --steps 16 \
#       --variants default default+compile --out "$out/bench_compile.json"

# Fréchet distance (FID, fd_digits): clean-fid's sqrtm vs ours, numpy on the GPU machine's CPU cores.
python benchmarks/frechet.py --dim 2048 64 32 --repeats 3 --out "$out/frechet_cpu.json" > /dev/null
