#!/usr/bin/env bash
# Drape's front door.
#   ./run.sh                    set up (dependencies, build) and start the app
#   ./run.sh test               set up and run every test, then the
#                               compute tests again under ASan + UBSan
#   ./run.sh test --no-sanitize skip the sanitizer pass
#   ./run.sh cli ARGS...        set up and run drape-cli
set -euo pipefail
cd "$(dirname "$0")"

# Debian / Ubuntu package names.  Elsewhere install the equivalents:
# meson, ninja, a C11 compiler, pkg-config, GLib >= 2.74, json-glib,
# libsoup 3, libpng, gdk-pixbuf, GTK >= 4.8, libadwaita >= 1.2, libarchive, the Vulkan
# loader and headers, glslangValidator, a Vulkan driver (Mesa's lavapipe
# runs on any CPU), and for the tests the Vulkan validation layers,
# SPIRV-Tools, Xvfb, dbus, desktop-file-utils, appstream and libXtst.
BUILD_PACKAGES=(
  meson ninja-build pkg-config gcc
  libglib2.0-dev libjson-glib-dev libsoup-3.0-dev libpng-dev libgdk-pixbuf-2.0-dev
  libgtk-4-dev libadwaita-1-dev libarchive-dev
  libvulkan-dev glslang-tools mesa-vulkan-drivers webp-pixbuf-loader
  gettext desktop-file-utils appstream
)
TEST_PACKAGES=(
  vulkan-validationlayers vulkan-tools spirv-tools xvfb xauth dbus dbus-x11 imagemagick libxtst-dev
  clang libclang-rt-14-dev
)

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install_packages() {
  local missing
  if ! command -v dpkg-query >/dev/null; then
    echo "run.sh: not a Debian-like system; install these (or your distribution's equivalents):" >&2
    echo "  $*" >&2
    return 0
  fi
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  echo "run.sh: installing: $missing"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

refresh_golden_hint() {
  # The reference vectors live in ../shared/golden when this checkout sits
  # in a Drape workspace; the project carries a copy in tests/golden.
  if [ -d ../shared/golden ] && ! diff -rq ../shared/golden tests/golden >/dev/null 2>&1; then
    echo "run.sh: note: ../shared/golden differs from tests/golden; refresh with:" >&2
    echo "  rm -rf tests/golden && cp -r ../shared/golden tests/golden && chmod -R u+w tests/golden" >&2
  fi
}

# The default models (about 2.4 GB), when they are not all there and the
# hub answers within a few seconds.  Offline, or when the download fails,
# the app still starts: its first-run page says what is missing.
fetch_models_if_missing() {
  local cli=./build/app/drape-cli status=0
  if "$cli" models ready >/dev/null 2>&1; then
    return 0
  fi
  echo "run.sh: fetching the default models (resumable; Ctrl-C stops)"
  "$cli" models fetch --probe-timeout 5 || status=$?
  case $status in
    0) ;;
    130) exit 130 ;;
    3) echo "run.sh: the model hub does not answer; starting without models" >&2 ;;
    *) echo "run.sh: fetching the models failed; starting anyway (retry: ./run.sh cli models fetch)" >&2 ;;
  esac
}

# Uninstalled runs read the model catalog of this checkout.
export DRAPE_CATALOG_DIR="$PWD/models"

cmd=${1:-app}
case "$cmd" in
  test)
    shift
    sanitize=1
    for arg in "$@"; do
      [ "$arg" = "--no-sanitize" ] && sanitize=0
    done
    install_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    refresh_golden_hint
    build build
    # One shader cache for both passes: the sanitizers watch our host
    # code, not the driver's compiler, so the second pass need not compile
    # every pipeline again (LLVM under ASan took most of its time).
    export MESA_SHADER_CACHE_DIR="$PWD/build/tests/shader-cache"
    dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" \
      meson test -C build --print-errorlogs --num-processes 2
    if [ "$sanitize" = 1 ]; then
      build build-sanitize -Db_sanitize=address,undefined -Dapp=false -Db_lundef=false
      ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-sanitize --print-errorlogs --suite compute --num-processes 2
    fi
    ;;
  cli)
    shift
    install_packages "${BUILD_PACKAGES[@]}"
    build build >/dev/null
    exec ./build/app/drape-cli "$@"
    ;;
  app|"")
    install_packages "${BUILD_PACKAGES[@]}"
    build build
    fetch_models_if_missing
    export GSETTINGS_SCHEMA_DIR="$PWD/build/data"
    exec ./build/app/drape "$@"
    ;;
  *)
    echo "usage: ./run.sh [test [--no-sanitize] | cli ARGS...]" >&2
    exit 2
    ;;
esac
