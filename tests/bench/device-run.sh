#!/usr/bin/env bash
# Runs on the GPU machine (the device tool), builds nothing: the engine's
# op tests and golden tests on the real GPU, drape-cli selftest, and
# drape-cli bench at CatVTON's two trained sizes next to DESIGN.md §5's
# PyTorch anchors.  Everything lands in $OUT.  Prepare with
# tests/bench/device-pack.sh and carry .gl.
set -uo pipefail
cd "$(dirname "$0")/../.."
# The device tool brings back at most 8 files: logs go into one archive.
out=/tmp/drape-out
mkdir -p "$out" "${OUT:=/tmp/drape-results}"
root=$PWD/.gl/drape

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
         /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_CACHE_HOME=/tmp/drape-cache
export GDK_PIXBUF_MODULE_FILE=$root/loaders.cache
export DRAPE_GOLDEN_DIR=$PWD/tests/golden

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

{ nvidia-smi; echo; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; } > "$out/machine.txt" 2>&1
$cli devices > "$out/devices.txt" 2>&1
cat "$out/devices.txt"

# Correctness on the real GPU first: op tests, golden models, selftest.
for t in /tmp/drape-bin/test-*; do
  name=$(basename "$t")
  case $name in test-models|test-app*) continue ;; esac
  start=$(date +%s)
  timeout 120 "$t" > "$out/$name.log" 2>&1
  status=$?
  printf '%-24s exit %3d  %4d s\n' "$name" "$status" "$(( $(date +%s) - start ))" | tee -a "$out/tests.txt"
done
timeout 120 $cli selftest > "$out/selftest.txt" 2>&1; echo "selftest exit $?" >> "$out/tests.txt"

# Speed: the PyTorch anchors are 66.3 ms (768x1024) and 29.5 ms (384x512)
# per UNet step with guidance, on the same GPU.
# BENCH_STEPS UNet steps are timed; E2E_STEPS is the length of the timed
# whole try-on (CatVTON's default is 50).
for size in 768x1024 384x512; do
  timeout 240 $cli bench --size "$size" --steps "${BENCH_STEPS:-10}" --profile \
    --e2e "${E2E_STEPS:-50}" > "$out/bench-$size.txt" 2>&1
  echo "bench $size exit $?" >> "$out/tests.txt"
  timeout 120 $cli bench --size "$size" --steps "${BENCH_STEPS:-10}" --json > "$out/bench-$size.json" 2>&1
done
tar czf "$OUT/results.tar.gz" -C "$out" .
cat "$out/tests.txt" "$out"/bench-*.txt > "$OUT/summary.txt"
cat "$OUT/summary.txt"
