#!/usr/bin/env bash
# Runs the tensor-core kernels on the CPU: Mesa 26's lavapipe has
# VK_KHR_cooperative_matrix (8x8x8 matrices, subgroups of 8), Debian 12's
# does not, and Debian 12's glslang cannot build the KHR shaders.  So this
# unpacks Debian 13's C library, LLVM, glslang, Vulkan loader and
# validation layers and trixie-backports' Mesa into a cache folder (the
# system is untouched), builds the project into build-coopmat with that
# glslang, and runs the named tests (default: coopmat) there with the
# validation layers on.  Not part of ./run.sh test: the download is about
# 120 MB and test-coopmat alone takes about 16 minutes on 2 cores with a
# cold pipeline cache (5 to 9 warm).
#
#   tests/coopmat-on-cpu.sh [TEST...]      e.g. coopmat unet vae
#
# Needs network access to deb.debian.org the first time; each package is
# checked against the archive's SHA256.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
cache=${DRAPE_LAVAPIPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/drape/lavapipe-trixie}
root=$cache/root
lib=$root/usr/lib/x86_64-linux-gnu
mirror=https://deb.debian.org/debian

# The runtime: Mesa from trixie-backports, everything it, glslang, the
# validation layers and spirv-val (which knows the cooperative-matrix-2
# modules Debian 12's does not) need from trixie itself.
backports=(mesa-vulkan-drivers)
trixie=(libc6 libstdc++6 libgcc-s1 libllvm19 libz3-4 libxml2 libicu76 libedit2 libffi8 libtinfo6
        libzstd1 liblzma5 zlib1g libelf1t64 libexpat1 libbsd0 libmd0 libdrm2 libdrm-amdgpu1
        libdisplay-info2 libwayland-client0 libx11-xcb1 libxcb1 libxcb-dri3-0 libxcb-present0
        libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libxau6 libxdmcp6
        libpng16-16t64 libvulkan1 vulkan-validationlayers glslang-tools spirv-tools)

# Prints "path sha256" of a package in a suite's index.
locate () {
  xz -dc "$cache/Packages-$1.xz" | awk -v want="$2" '
    /^Package: / { hit = ($2 == want) }
    hit && /^Filename: / { file = $2 }
    hit && /^SHA256: / { print file, $2; exit }'
}

fetch () {
  local suite=$1 pkg=$2 path sum deb
  read -r path sum < <(locate "$suite" "$pkg") || { echo "$pkg: not in $suite" >&2; exit 1; }
  deb=$cache/debs/$(basename "$path")
  if [ ! -f "$deb" ]; then
    curl -fsSL -o "$deb.part" "$mirror/$path"
    echo "$sum  $deb.part" | sha256sum -c --quiet
    mv "$deb.part" "$deb"
  fi
  dpkg-deb -x "$deb" "$root"
}

if [ ! -x "$root/usr/bin/glslangValidator" ] || [ ! -x "$root/usr/bin/spirv-val" ]; then
  mkdir -p "$cache/debs"
  for suite in trixie trixie-backports; do
    curl -fsSL -o "$cache/Packages-$suite.xz" "$mirror/dists/$suite/main/binary-amd64/Packages.xz"
  done
  for p in "${backports[@]}"; do fetch trixie-backports "$p"; done
  for p in "${trixie[@]}"; do fetch trixie "$p"; done
fi

# Programs run on trixie's dynamic loader and libraries, then the
# system's for the rest (GLib, GTK, ...).
cat > "$cache/run" <<EOF
#!/bin/sh
export VK_DRIVER_FILES=$cache/lvp_icd.json VK_LAYER_PATH=$cache/layers
exec $lib/ld-linux-x86-64.so.2 --library-path $lib:/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu "\$@"
EOF
mkdir -p "$cache/bin" "$cache/layers"
for tool in glslangValidator spirv-val; do
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$cache/run" "$root/usr/bin/$tool" > "$cache/bin/$tool"
done
# Tests that spawn drape-cli get it through the same loader.
printf '#!/bin/sh\nexec %s %s "$@"\n' "$cache/run" "$src/build-coopmat/app/drape-cli" > "$cache/bin/drape-cli"
chmod +x "$cache/run" "$cache/bin/glslangValidator" "$cache/bin/spirv-val" "$cache/bin/drape-cli"
sed "s#\"libvulkan_lvp.so\"#\"$lib/libvulkan_lvp.so\"#" \
  "$root/usr/share/vulkan/icd.d/lvp_icd.json" > "$cache/lvp_icd.json"
sed "s#\"libVkLayer_khronos_validation.so\"#\"$lib/libVkLayer_khronos_validation.so\"#" \
  "$root/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json" \
  > "$cache/layers/VkLayer_khronos_validation.json"

[ -d build-coopmat ] || PATH=$cache/bin:$PATH meson setup build-coopmat >/dev/null
PATH=$cache/bin:$PATH ninja -C build-coopmat >/dev/null

# lavapipe's matrices are 8x8 only at 256-bit vectors; and LLVM 19's
# AVX-512 code misaligns 64-byte stores in those shaders (a crash), so
# the CPU is taken for AVX (without AVX2 or AVX-512).
export GALLIUM_OVERRIDE_CPU_CAPS=avx LP_NATIVE_VECTOR_WIDTH=256
# A CPU device takes its emulated tensor cores only when asked.
export DRAPE_COOPMAT=khr
export DRAPE_VALIDATION=1 G_DEBUG=fatal-warnings GSETTINGS_BACKEND=memory
export XDG_CACHE_HOME=$src/build-coopmat/cache DRAPE_GOLDEN_DIR=$src/tests/golden
export DRAPE_CATALOG_DIR=$src/models G_TEST_SRCDIR=$src/tests DRAPE_CLI=$cache/bin/drape-cli
"$cache/run" build-coopmat/app/drape-cli devices | grep -q "KHR cooperative matrix" ||
  { echo "lavapipe shows no KHR cooperative matrix here" >&2; exit 1; }

status=0
for t in "${@:-coopmat}"; do
  start=$(date +%s)
  if "$cache/run" "build-coopmat/tests/test-$t" > "build-coopmat/test-$t.log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  printf '%-12s %-6s %4d s  %s\n' "$t" "$result" "$(( $(date +%s) - start ))" "build-coopmat/test-$t.log"
done
exit $status
