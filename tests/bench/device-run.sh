#!/usr/bin/env bash
# Runs on the GPU machine (the device tool), builds nothing.  Most
# important first, inside a time budget (BUDGET seconds, default 330, so
# a lease of 15 minutes holds two runs): the profiled benches at
# CatVTON's two trained sizes (next to DESIGN.md §5's PyTorch anchors:
# 66.3 ms and 29.5 ms per UNet step with guidance), the golden and
# tensor-core tests on the real GPU, then comparisons between kernel
# choices and the rest of the tests as long as time is left.  Results in
# $OUT/summary.txt as they come, the two benches' profiles in
# $OUT/bench-*.json, every log in $OUT/logs.tar.gz.
# Prepare with tests/bench/device-pack.sh and carry .gl.
#   ONLY="test-a test-b"   just those tests
#   PLAN=quick             golden tests and layer profiles only (QUICK_TESTS,
#                          E2E=50: a try-on's time too, VAE_TILE=512: and
#                          one on VAE tiles)
#   PLAN=sweep             layer profiles with other tiles forced
#   PLAN=tune              layer profiles untuned (E2E=50: a try-on's
#                          time too, here and tuned; BENCH_ALSO: sizes
#                          profiled untuned only), the tests PRE_TESTS
#                          names (none: tune checks each way's results
#                          itself), drape-cli tune at each
#                          size TUNE_SIZES names ("768x1024 384x512") into
#                          $OUT/tuning.json (each for at most TUNE_S=200
#                          s), the profiles again with it and with each
#                          workgroup-scope tile CM2_TILES names forced
#                          ("128x128x32"), and CM2_ATTENTION's attention
#                          tiles ("64x32"), then test-conv, test-attention
#                          and the golden tests (QUICK_TESTS), and last
#                          test-coopmat (the tensor-core kernels with
#                          every tile forced: over 220 s on the H200) in
#                          what is left of the budget, up to COOPMAT_S=300
#   PLAN=ab                this build against the other builds' CLIs
#                          device-pack.sh ALT=... packed, and against itself
#                          under each of VARIANTS="A=1 B=2;C=3"; after the
#                          tests AB_TESTS names (AB_TESTS= for none); then
#                          each build again at the sizes AB_ALSO names
#                          ("384x512"); the profiles in $OUT/ab.tar.gz
#   BUDGET=600             a longer run
set -uo pipefail
cd "$(dirname "$0")/../.."
log=/tmp/drape-out
mkdir -p "$log" "${OUT:=/tmp/drape-results}"
summary=$OUT/summary.txt
root=$PWD/.gl/drape
begin=$(date +%s)
budget=${BUDGET:-330}

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
         /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES=$icd
export XDG_CACHE_HOME=/tmp/drape-cache
sed "s#@LOADERS@#$root/loaders#" "$root/loaders.cache" > /tmp/drape-loaders.cache
export GDK_PIXBUF_MODULE_FILE=/tmp/drape-loaders.cache
export XDG_DATA_DIRS=$root/share:/usr/share
export DRAPE_GOLDEN_DIR=$PWD/tests/golden
export DRAPE_CATALOG_DIR=$PWD/models
export G_TEST_SRCDIR=$PWD/tests

# Every binary runs with Debian's libraries first in the search path, but
# on the machine's own C library: the GPU driver's libraries need that one
# (it must be at least Debian 12's glibc 2.36).
rm -f "$root"/lib/{ld-linux-x86-64.so.2,libc.so.6,libm.so.6,libpthread.so.0,libdl.so.2,librt.so.1}
mkdir -p /tmp/drape-bin
for b in "$root"/bin/* "$root"/alt/*; do
  [ -f "$b" ] || continue
  name=$(basename "$b")
  [ "$(dirname "$b")" = "$root/alt" ] && name=alt-$name
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$root/lib" "$b" > /tmp/drape-bin/"$name"
  chmod +x /tmp/drape-bin/"$name"
done
export DRAPE_CLI=/tmp/drape-bin/drape-cli
cli=/tmp/drape-bin/drape-cli

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$summary" 2>&1
$cli devices >> "$summary" 2>&1

# Prints the seconds an item may take: its own limit, cut to what is left
# of the budget; fails (and notes the skip) when under 15 s are left.
allowance () {
  local left=$(( begin + budget - $(date +%s) ))
  if [ "$left" -lt 15 ]; then
    echo "skipped (budget): $2" >> "$summary"
    return 1
  fi
  echo $(( $1 < left ? $1 : left ))
}

# The last lines of a log into the summary, ending in a newline even where
# the log's last line (a progress report) has none.
tail_summary () {
  tail -n 4 "$1" | sed -e '$a\' >> "$summary"
}

run_test () {
  local t=/tmp/drape-bin/$1 start status limit
  limit=$(allowance "${2:-90}" "$1${3:-}") || return 0
  start=$(date +%s)
  timeout "$limit" "$t" > "$log/$1${3:-}.log" 2>&1
  status=$?
  printf '%-30s exit %3d  %4d s  %s\n' "$1${3:-}" "$status" "$(( $(date +%s) - start ))" \
    "$(grep -cE '^ok' "$log/$1${3:-}.log") ok, $(grep -cE '^not ok|^Bail out!|^ERROR:' "$log/$1${3:-}.log") failed" >> "$summary"
  [ "$status" = 0 ] || tail_summary "$log/$1${3:-}.log"
}

# bench NAME LIMIT ARGS...: drape-cli bench's text report (the ten most
# expensive ops with --profile) into the summary.
bench () {
  local name=$1 limit
  limit=$(allowance "$2" "bench $name") || return 0
  shift 2
  echo "== bench $name: $*" >> "$summary"
  timeout "$limit" $cli bench "$@" > "$log/bench-$name.txt" 2>&1
  echo "exit $?" >> "$summary"
  tail -n 22 "$log/bench-$name.txt" >> "$summary"
}

# bench_json NAME LIMIT ARGS...: every op's time, kept in $OUT.
bench_json () {
  local name=$1 limit
  limit=$(allowance "$2" "bench $name") || return 0
  shift 2
  echo "== bench $name (json): $*" >> "$summary"
  timeout "$limit" $cli bench --json "$@" > "$OUT/bench-$name.json" 2> "$log/bench-$name.err"
  echo "exit $?" >> "$summary"
  grep -E '"(tensor_cores|load_ms|unet_step_ms|unet_step_first_ms|unet_step_tflops|unet_step_dispatches|unet_step_barriers|unet_step_tuned|unet_step_pipelines|unet_step_pipelines_ms|vae_encode_ms|vae_encode_pipelines_ms|vae_decode_ms|vae_decode_pipelines_ms|peak_mib|peak_device_local_mib|tryon_s|tryon_peak_mib|tryon_peak_device_local_mib|auto_mask_ms|auto_mask_first_ms)"' \
    "$OUT/bench-$name.json" >> "$summary"
  tail_summary "$log/bench-$name.err"
}

# NVIDIA's own cooperative-matrix GEMM benchmark, where packed into
# .gl/vkperf (HACKING.md): what the driver's tensor cores give a shader
# like conv2d_coopmat, to measure ours against.  Its shared-memory
# kernels alone unless VKPERF_ARGS says otherwise ("" for all).
vkperf () {
  local limit
  [ -x .gl/vkperf/vkperf ] || return 0
  limit=$(allowance "$1" "vkperf") || return 0
  echo "== vk_cooperative_matrix_perf ${VKPERF_ARGS---shmem}" >> "$summary"
  # shellcheck disable=SC2086
  (cd .gl/vkperf && LD_LIBRARY_PATH=$root/lib:$PWD/lib timeout "$limit" ./vkperf ${VKPERF_ARGS---shmem}) \
    > "$OUT/vkperf.txt" 2>&1
  echo "exit $?" >> "$summary"
  # Each shader's best tile.
  awk '/^shader:/ { s = $2 } /TFlops/ && $(NF-1) + 0 > best[s] { best[s] = $(NF-1) + 0; line[s] = $0 }
       END { for (s in best) print "  " s ": " line[s] }' "$OUT/vkperf.txt" >> "$summary"
}

if [ -n "${ONLY:-}" ]; then
  for t in $ONLY; do run_test "$t"; done
  cat "$summary"
  exit 0
fi
# PLAN=quick: the golden tests (or those QUICK_TESTS names) and each
# layer's time at both sizes, with and without split K, and where E2E
# names a number of steps a try-on of them at both sizes (and with
# VAE_TILE=512 one at 768x1024 on VAE tiles): what to work on next, in
# about two minutes.
if [ "${PLAN:-}" = quick ]; then
  for t in ${QUICK_TESTS:-test-unet test-vae test-pipeline}; do run_test "$t"; done
  bench_json 768x1024 90 --size 768x1024 --steps 3 --profile --auto-mask ${E2E:+--e2e "$E2E"}
  bench_json 384x512 60 --size 384x512 --steps 5 --profile ${E2E:+--e2e "$E2E"}
  # What the tiled VAE costs a try-on (whole images meet the memory
  # target too since session 12: compare the two e2e peaks).
  if [ -n "${E2E:-}" ] && [ -n "${VAE_TILE:-}" ]; then
    bench_json 768x1024-tiles 90 --size 768x1024 --steps 1 --e2e "$E2E" --vae-tile "$VAE_TILE"
  fi
  DRAPE_CONV_SPLIT=1 bench_json 384x512-nosplit 60 --size 384x512 --steps 5 --profile
  echo "total $(( $(date +%s) - begin )) s" >> "$summary"
  cat "$summary"
  exit 0
fi
# PLAN=tune: what measuring every layer's ways on this GPU buys: the
# benches before and after in $OUT/bench-*.json, and the tuning itself
# in $OUT/tuning.json (both sizes in one file, which tunings/ may ship
# as this GPU's: tunings/README.md; tune's own reports in the logs).
# Then test-conv and test-attention, whose tuned-ways cases measure,
# apply and check ways on this GPU, and the golden tests.  tune saves
# after each trial, so a tune cut short by its allowance still leaves
# the tuned benches what it timed of the step.
if [ "${PLAN:-}" = tune ]; then
  sizes=${TUNE_SIZES:-768x1024 384x512}
  tuning=$OUT/tuning.json
  # The untuned numbers first, so that a test or tune that goes wrong
  # cannot cost them.
  for size in $sizes ${BENCH_ALSO:-}; do
    DRAPE_TUNING=none bench_json "$size-untuned" 60 --size "$size" --steps 3 --profile \
      ${E2E:+--e2e "$E2E"}
  done
  for t in ${PRE_TESTS:-}; do run_test "$t" 120; done
  for size in $sizes; do
    limit=$(allowance "${TUNE_S:-200}" "tune $size") || continue
    echo "== tune $size" >> "$summary"
    # tune stops starting trials after --seconds and saves what it
    # timed; the rest of the allowance is for the trial under way then
    # (new pipelines to build) and the VAE's usual ways.
    DRAPE_TUNING=$tuning timeout "$limit" $cli tune --json --size "$size" --seconds $(( limit * 3 / 4 )) \
      --output "$tuning" > "$log/tune-$size.json" 2> "$log/tune-$size.err"
    echo "exit $?" >> "$summary"
    grep -E '"(usual_ms|tuned_ms|complete)"' "$log/tune-$size.json" >> "$summary"
    # Ways whose results differed from the usual ways' (tuning.c).
    echo "left out: $(grep -c 'computes something else' "$log/tune-$size.err")" >> "$summary"
    tail_summary "$log/tune-$size.err"
  done
  for size in $sizes; do
    DRAPE_TUNING=$tuning bench_json "$size-tuned" 60 --size "$size" --steps 3 --profile \
      ${E2E:+--e2e "$E2E"}
  done
  # Every GEMM that suits it on workgroup-scope matrices, untuned: each
  # layer's time beside the untuned profile's (CM2_TILES="" for none).
  for tile in ${CM2_TILES-128x128x32}; do
    DRAPE_TUNING=none DRAPE_CONV_KERNEL=coopmat2:$tile \
      bench_json "${sizes%% *}-coopmat2-$tile" 60 --size "${sizes%% *}" --steps 3 --profile
  done
  # The same for attention (CM2_ATTENTION="" for none).
  for tile in ${CM2_ATTENTION-64x32}; do
    DRAPE_TUNING=none DRAPE_ATTENTION_KERNEL=workgroup:$tile \
      bench_json "${sizes%% *}-workgroup-$tile" 60 --size "${sizes%% *}" --steps 3 --profile
  done
  for t in ${QUICK_TESTS:-test-conv test-attention test-unet test-vae}; do run_test "$t"; done
  run_test test-coopmat "${COOPMAT_S:-300}"
  echo "total $(( $(date +%s) - begin )) s" >> "$summary"
  tar czf "$OUT/logs.tar.gz" -C "$log" .
  cat "$summary"
  exit 0
fi
# PLAN=ab: the golden tests, then the same layer profile from each other
# build's CLI and this one, in turns, on the same warm GPU; each
# variant's environment on this one after.  In $OUT/ab.tar.gz; compare
# them with tests/bench/compare.py.
if [ "${PLAN:-}" = ab ]; then
  vkperf "${VKPERF_S:-75}"
  for t in ${AB_TESTS-test-attention test-conv test-unet test-vae test-pipeline}; do run_test "$t"; done
  # Few files come back from the machine: the profiles gather in one
  # folder, packed at the end.
  mkdir -p "$log/ab"
  ab () {
    local name=$1 bin=$2 size=$3 limit
    shift 3
    limit=$(allowance 60 "ab $name") || return 0
    env "$@" timeout "$limit" "$bin" bench --json --profile --size "$size" --steps 3 \
      > "$log/ab/ab-$name.json" 2> "$log/ab-$name.err"
    echo "$name: exit $? $(grep -E '"(unet_step_ms|vae_encode_ms|vae_decode_ms)"' "$log/ab/ab-$name.json" | tr -d '\n ')" >> "$summary"
  }
  each_build () {
    local suffix=$1 size=$2
    for alt in /tmp/drape-bin/alt-*; do
      [ -x "$alt" ] && ab "${alt#/tmp/drape-bin/alt-}$suffix" "$alt" "$size"
    done
    ab "new$suffix" $cli "$size"
  }
  each_build "" "${AB_SIZE:-768x1024}"
  i=0
  IFS=';' read -ra variants <<< "${VARIANTS:-}"
  for v in "${variants[@]}"; do
    i=$((i + 1))
    echo "variant $i: $v" >> "$summary"
    # shellcheck disable=SC2086
    ab variant$i $cli "${AB_SIZE:-768x1024}" $v
  done
  for size in ${AB_ALSO:-}; do each_build "-$size" "$size"; done
  echo "total $(( $(date +%s) - begin )) s" >> "$summary"
  tar czf "$OUT/ab.tar.gz" -C "$log/ab" .
  tar czf "$OUT/logs.tar.gz" -C "$log" --exclude=./ab .
  cat "$summary"
  exit 0
fi
# PLAN=sweep: layer profiles with each convolution tile forced, with K
# split less, and with other attention tiles; kept in $OUT/sweep.tar.gz.
if [ "${PLAN:-}" = sweep ]; then
  mkdir -p "$log/sweep"
  sweep () {
    local name=$1 limit
    limit=$(allowance 60 "sweep $name") || return 0
    shift
    env "$@" timeout "$limit" $cli bench --json --profile \
      --size "${name%%-*}" --steps "$([ "${name%%-*}" = 768x1024 ] && echo 3 || echo 5)" \
      > "$log/sweep/$name.json" 2> "$log/sweep/$name.err"
    echo "$name: exit $? $(grep -E '"(unet_step_ms|vae_encode_ms|vae_decode_ms)"' "$log/sweep/$name.json" | tr -d '\n ')" >> "$summary"
  }
  for size in 768x1024 384x512; do
    sweep $size-default DRAPE_SWEEP=1
    for tile in 128x128 128x64 64x128 64x64; do
      sweep $size-conv$tile DRAPE_CONV_KERNEL=coopmat:$tile
    done
  done
  for cap in 1 2 4; do sweep 384x512-split$cap DRAPE_CONV_SPLIT=$cap; done
  for tile in 16x2x4 64x2x4 32x1x4; do sweep 768x1024-attn$tile DRAPE_ATTENTION_TILE=$tile; done
  tar czf "$OUT/sweep.tar.gz" -C "$log/sweep" .
  echo "total $(( $(date +%s) - begin )) s" >> "$summary"
  cat "$summary"
  exit 0
fi

# The numbers first (every op's time, and a 50-step try-on), then the same
# without split K, then correctness on the real GPU.
bench_json 768x1024 90 --size 768x1024 --steps 10 --profile --e2e 50 --auto-mask
bench_json 384x512 60 --size 384x512 --steps 20 --profile --e2e 50
DRAPE_CONV_SPLIT=1 bench_json 768x1024-nosplit 60 --size 768x1024 --steps 10 --profile
DRAPE_CONV_SPLIT=1 bench_json 384x512-nosplit 40 --size 384x512 --steps 20 --profile
vkperf 75
for t in test-unet test-vae test-pipeline test-conv test-attention test-coopmat; do run_test "$t"; done
# Attention tiles with eight subgroups against the default.
for tile in 32x2x8 16x2x8; do
  DRAPE_ATTENTION_TILE=$tile bench 768x1024-attn$tile 40 --size 768x1024 --steps 3 --profile
done
# No cooperative matrix 2 at all (the VAE's wide heads too), and scores
# in shared memory where they would be in registers.
DRAPE_NO_COOPMAT2=1 bench 768x1024-no-coopmat2 60 --size 768x1024 --steps 3 --profile
DRAPE_ATTENTION_KERNEL=coopmat bench 768x1024-attn-coopmat 60 --size 768x1024 --steps 3 --profile
# The NV build of the tensor-core shaders, which the KHR one (packed from
# a build whose glslang has GL_KHR_cooperative_matrix) displaces.
DRAPE_COOPMAT=nv run_test test-coopmat 90 -nv
DRAPE_COOPMAT=nv bench 768x1024-nv 60 --size 768x1024 --steps 3 --profile
for t in /tmp/drape-bin/test-*; do
  name=$(basename "$t")
  case $name in test-coopmat|test-unet|test-vae|test-pipeline|test-conv|test-attention|test-models) continue ;; esac
  run_test "$name" 60
done
# Kernels the driver would not build (each fell back to a slower one).
echo "== refused kernels" >> "$summary"
grep -h "Message:" "$log"/* 2>/dev/null | sed 's/^.*Message: [0-9:.]*: //' | sort -u >> "$summary"
echo "total $(( $(date +%s) - begin )) s" >> "$summary"
tar czf "$OUT/logs.tar.gz" -C "$log" .
cat "$summary"
