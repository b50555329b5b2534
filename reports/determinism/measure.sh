#!/usr/bin/env bash
# How far one ACT digits run moves across CPU kernels, against the spread over seeds (issue #11 item 7).
# The run: the default config's digits ACT run (batch 16, its train settings, 1 thread), shortened to 150
# iterations to fit the shared machine. Runs go two at a time.
# Usage (from the repository root): bash reports/determinism/measure.sh OUT_DIR
set -euo pipefail
out=${1:?usage: measure.sh OUT_DIR}
mkdir -p "$out"
python - "$out/config.yaml" <<'PY'
import sys, yaml
config = yaml.safe_load(open('workflow/configs/default.yaml'))
block = next(b for b in config['sweep'] if b['dataset'] == ['digits'] and b['method'] == ['ct', 'act'])
config.update(name='determinism', datasets={'digits': config['datasets']['digits']},
              sweep=[{**block, 'method': ['act'], 'batch_size': [16], 'seed': [0, 1, 2, 3],
                      'train': {**block['train'], 'iterations': 150}}])
yaml.safe_dump(config, open(sys.argv[1], 'w'))
PY
cfg="$out/config.yaml"
[ -f "$out/digits.npz" ] || act-bench prepare-data --config "$cfg" --dataset digits --out "$out/digits.npz"
[ -f "$out/classifier.pt" ] || act-bench train-classifier --config "$cfg" --data "$out/digits.npz" --out "$out/classifier.pt"
one() {   # one() NAME SEED [ENV=VALUE ...]: train, sample and evaluate one run under the given environment
  local name=$1 seed=$2; shift 2
  local run=(--config "$cfg" --dataset digits --method act --batch-size 16 --model small --augment off --seed "$seed")
  env "$@" act-bench train "${run[@]}" --data "$out/digits.npz" --run-dir "$out/$name" 2>/dev/null
  env "$@" act-bench sample "${run[@]}" --final "$out/$name/final.pt" --out "$out/$name/samples.npz"
  act-bench evaluate --config "$cfg" --dataset digits --data "$out/digits.npz" --classifier "$out/classifier.pt" \
    --samples "$out/$name/samples.npz" --out "$out/$name/metrics.json"
}
one native-seed0 0 & one native-seed1 1 & wait
one native-seed2 2 & one aten-avx2-seed0 0 ATEN_CPU_CAPABILITY=avx2 & wait
one aten-default-seed0 0 ATEN_CPU_CAPABILITY=default & one both-avx2-seed0 0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 & wait
python - "$out" <<'PY'
import json, sys, pathlib, torch
out = pathlib.Path(sys.argv[1])
ref = torch.load(out / 'native-seed0' / 'final.pt', weights_only=True)
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    recs = {r['sampler']: r['value'] for r in json.loads((d / 'metrics.json').read_text())['records']}
    st = torch.load(d / 'final.pt', weights_only=True)
    diff = max((st['ema'][k] - ref['ema'][k]).abs().max().item() for k in ref['ema'])
    print(json.dumps({'run': d.name, 'fd_1step': round(recs['1-step'], 3), 'fd_2step': round(recs['2-step'], 3),
                      'network': json.loads((d / 'metrics.json').read_text())['records'][0]['network'],
                      'max_abs_weight_diff_vs_native_seed0': diff}))
PY
