#!/usr/bin/env bash
# The main job of the README's `make run`: the CLI's help, a benchmark table
# (sov bench: prefill/decode tokens/s with a DRAM probe and the roofline), then
# a short greedy generation from the default model (Gemma 3 270M, the Q4_K_M GGUF that
# scripts/setup.sh assembles), with prefill and decode tokens/s on stderr.
# The pinned checkpoint is the pretrained 270M model, so the demo is a text
# completion rather than a chat turn.
set -euo pipefail
build=${1:-build/release}
"$build/sov" --help
model="${SOV_GEMMA3_GGUF:-$HOME/.cache/sovereign/gemma-3-270m-q4_k_m.gguf}"
if [ ! -f "$model" ]; then
  echo "run_main: no model at $model (scripts/setup.sh assembles it); skipping generation" >&2
  exit 0
fi
echo
echo "\$ sov bench -m $(basename "$model") -p 128 -n 32 -r 3"
"$build/sov" bench -m "$model" -p 128 -n 32 -r 3 -o md
prompt="The Eiffel Tower is located in the city of"
echo
echo "\$ sov run -m $(basename "$model") -p \"$prompt\" -n 32"
"$build/sov" run -m "$model" -p "$prompt" -n 32
