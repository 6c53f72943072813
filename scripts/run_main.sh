#!/usr/bin/env bash
# The main job of the README's `make run`. It grows with the project: today it
# prints the CLI's help.
set -euo pipefail
build=${1:-build/release}
"$build/sov" --help
