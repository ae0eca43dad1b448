#!/usr/bin/env bash
# Runs on the GPU machine (the device tool), builds nothing: the tensor-core
# and golden tests on the real GPU, drape-cli bench at CatVTON's two trained
# sizes (next to DESIGN.md §5's PyTorch anchors: 66.3 ms and 29.5 ms per
# UNet step with guidance), the KHR tensor-core shaders where the packed
# build has them, the scalar kernels as a baseline, then the rest of the
# tests.  Results accumulate in $OUT/summary.txt as they come (so a
# run cut short still reports), logs in $OUT/logs.tar.gz at the end.
# Prepare with tests/bench/device-pack.sh and carry .gl.
set -uo pipefail
cd "$(dirname "$0")/../.."
log=/tmp/drape-out
mkdir -p "$log" "${OUT:=/tmp/drape-results}"
summary=$OUT/summary.txt
root=$PWD/.gl/drape

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
         /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_CACHE_HOME=/tmp/drape-cache
export GDK_PIXBUF_MODULE_FILE=$root/loaders.cache
export XDG_DATA_DIRS=$root/share:/usr/share
export DRAPE_GOLDEN_DIR=$PWD/tests/golden
export DRAPE_CATALOG_DIR=$PWD/models
export G_TEST_SRCDIR=$PWD/tests

# Every binary runs with Debian's libraries first in the search path, but
# on the machine's own C library: the GPU driver's libraries need that one
# (it must be at least Debian 12's glibc 2.36).
rm -f "$root"/lib/{ld-linux-x86-64.so.2,libc.so.6,libm.so.6,libpthread.so.0,libdl.so.2,librt.so.1}
mkdir -p /tmp/drape-bin
for b in "$root"/bin/*; do
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$root/lib" "$b" > /tmp/drape-bin/"$(basename "$b")"
  chmod +x /tmp/drape-bin/"$(basename "$b")"
done
export DRAPE_CLI=/tmp/drape-bin/drape-cli
cli=/tmp/drape-bin/drape-cli

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$summary" 2>&1
$cli devices >> "$summary" 2>&1

run_test () {
  local t=/tmp/drape-bin/$1 start status
  start=$(date +%s)
  timeout "${2:-90}" "$t" > "$log/$1${3:-}.log" 2>&1
  status=$?
  printf '%-30s exit %3d  %4d s  %s\n' "$1${3:-}" "$status" "$(( $(date +%s) - start ))" \
    "$(grep -cE '^ok' "$log/$1${3:-}.log") ok, $(grep -cE '^not ok|ERROR' "$log/$1${3:-}.log") failed" >> "$summary"
  [ "$status" = 0 ] || tail -n 4 "$log/$1${3:-}.log" >> "$summary"
}

bench () {
  local name=$1; shift
  echo "== bench $name: $*" >> "$summary"
  timeout 150 "$@" > "$log/bench-$name.txt" 2>&1
  echo "exit $?" >> "$summary"
  tail -n 22 "$log/bench-$name.txt" >> "$summary"
}

# ONLY="test-a test-b" runs just those tests and no benchmark.
if [ -n "${ONLY:-}" ]; then
  for t in $ONLY; do run_test "$t"; done
  cat "$summary"
  exit 0
fi
for t in test-coopmat test-unet test-vae test-pipeline test-conv test-attention; do run_test "$t"; done
bench 768x1024 $cli bench --size 768x1024 --steps 10 --profile --e2e 50
bench 384x512 $cli bench --size 384x512 --steps 10 --profile --e2e 50
# Scores in shared memory where they would be in registers (packed from
# a build whose glslang has GL_NV_cooperative_matrix2, on a driver with
# VK_NV_cooperative_matrix2).
DRAPE_ATTENTION_KERNEL=coopmat bench 768x1024-attn-coopmat $cli bench --size 768x1024 --steps 3 --profile
# No cooperative matrix 2 at all (the VAE's wide heads too).
DRAPE_NO_COOPMAT2=1 bench 768x1024-no-coopmat2 $cli bench --size 768x1024 --steps 3 --profile
# Attention tiles (DRAPE_ATTENTION_TILE=BCxRTxNW) against the default
# (32x2x4, 64x1x4 and 32x1x4 for the UNet's heads of 40, 80 and 160;
# for the VAE's 512, 32x2x8 with cooperative matrix 2, else 16x2x8: the
# wide kernel takes a forced tile where it fits and leaves the head to
# the scalar kernel where not): the step, encode and decode times and
# the attention lines of each profile.
for tile in 16x2x4 32x2x4 64x2x4 64x1x4 128x1x4 32x1x8 32x2x2 64x2x2 16x4x2 16x1x8 32x2x8; do
  DRAPE_ATTENTION_TILE=$tile timeout 120 $cli bench --size 768x1024 --steps 3 --profile \
    > "$log/attn-$tile.txt" 2>&1
  echo "attention tile $tile: exit $? $(grep -E '^step_ms' "$log/attn-$tile.txt")" >> "$summary"
  grep -E '(unet|vae-enc|vae-dec) attention' "$log/attn-$tile.txt" >> "$summary"
done
# The KHR build of the tensor-core shaders (packed from a build whose
# glslang has GL_KHR_cooperative_matrix; skipped by the test otherwise).
DRAPE_COOPMAT=khr $cli devices >> "$summary" 2>&1
DRAPE_COOPMAT=khr run_test test-coopmat 90 -khr
DRAPE_COOPMAT=khr run_test test-unet 90 -khr
DRAPE_COOPMAT=khr bench 768x1024-khr $cli bench --size 768x1024 --steps 3 --profile
# The scalar kernels as a baseline (SCALAR=0 skips it).
if [ "${SCALAR:-1}" = 1 ]; then
  DRAPE_NO_COOPMAT=1 bench 768x1024-scalar $cli bench --size 768x1024 --steps 2 --profile
  DRAPE_NO_COOPMAT=1 run_test test-unet 90 -scalar
fi
for t in /tmp/drape-bin/test-*; do
  name=$(basename "$t")
  case $name in test-coopmat|test-unet|test-vae|test-pipeline|test-conv|test-attention|test-models) continue ;; esac
  run_test "$name"
done
timeout 60 $cli selftest > "$log/selftest.txt" 2>&1; echo "selftest exit $?" >> "$summary"
grep -E "FAIL" "$log/selftest.txt" >> "$summary"
# Kernels the driver would not build (each fell back to a slower one).
echo "== refused kernels" >> "$summary"
grep -h "Message:" "$log"/* 2>/dev/null | sed 's/^.*Message: [0-9:.]*: //' | sort -u >> "$summary"
tar czf "$OUT/logs.tar.gz" -C "$log" .
cat "$summary"
