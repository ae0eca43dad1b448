#!/usr/bin/env bash
# Everything a GPU session carries, in one go, built here:
#   - build-coopmat, with Debian 13's glslang 15 (tests/coopmat-on-cpu.sh
#     unpacks it), so that the pack has the KHR and cooperative-matrix-2
#     shaders the H200 runs;
#   - with BASE (a git revision), that revision's drape-cli built the
#     same way in build-base (a git worktree), for PLAN=ab: a base
#     built with an older glslang would lack those shaders and lose
#     the A/B for that reason alone;
#   - the pack, .gl/drape (device-pack.sh), base CLI included.
#
#   tests/bench/device-prepare.sh [BASE]
#
# Then `run` with carry [".gl"] and tests/bench/device-run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:-}
cache=${DRAPE_LAVAPIPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/drape/lavapipe-trixie}

# It builds build-coopmat, then runs a quick test on Mesa 26 as a smoke
# test (test-device spawns itself, and the child cannot load that Mesa).
tests/coopmat-on-cpu.sh denoise
export PATH=$cache/bin:$PATH
alt=""
if [ -n "$base" ]; then
  if [ -e build-base ]; then
    git worktree remove --force build-base
  fi
  git worktree add --detach build-base "$base"
  meson setup build-base/build build-base -Dapp=false >/dev/null
  ninja -C build-base/build app/drape-cli >/dev/null
  alt="base=build-base/build/app/drape-cli"
fi
ALT="$alt" tests/bench/device-pack.sh build-coopmat
