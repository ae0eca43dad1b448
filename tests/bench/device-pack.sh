#!/usr/bin/env bash
# Packs what the GPU machine needs to run Drape's binaries without building
# anything there: the executables, every shared library they load (the
# machine's own may be older or missing), Debian's dynamic loader to run
# them with (Debian's gdk-pixbuf has PNG and JPEG built in).  Output: .gl/drape (ignored by
# git: add `/.gl/` to .git/info/exclude), carried to the machine with
# `carry: [".gl"]`; tests/bench/device-run.sh runs there.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=.gl/drape
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"

# The GUI tests stay behind: the machine has no display, and GTK with
# what it loads (ICU's data alone is 31 MB) would take most of what a
# run may carry.
# TESTS="test-a test-b" packs just those: each test binary carries every
# shader (about 1.7 MB), and all of them with the tree come near what a
# run may carry (64 MiB).
bins=("$build/app/drape-cli")
for t in "$build"/tests/test-*; do
  if [ -n "${TESTS:-}" ] && [[ " $TESTS " != *" $(basename "$t") "* ]]; then
    continue
  fi
  # (ldd's whole output first: grep -q stopping early would fail the
  # pipe under pipefail.)
  [ -x "$t" ] && [ -f "$t" ] && [[ $(ldd "$t") != *libgtk-4* ]] && bins+=("$t")
done
cp "${bins[@]}" "$out/bin/"
strip --strip-debug "$out"/bin/*
# ALT="base=path/to/drape-cli ...": other builds' CLIs for PLAN=ab,
# which device-run.sh times against this one (same libraries).
for alt in ${ALT:-}; do
  mkdir -p "$out/alt"
  cp "${alt#*=}" "$out/alt/${alt%%=*}"
  strip --strip-debug "$out/alt/${alt%%=*}"
done
# The one gdk-pixbuf loader the tests use that is not built in: WebP.
mkdir -p "$out/loaders"
moduledir=$(pkg-config --variable=gdk_pixbuf_moduledir gdk-pixbuf-2.0)
cp "$moduledir/libpixbufloader-webp.so" "$out/loaders/"

for f in "$out"/bin/* "$out"/loaders/* /usr/lib/x86_64-linux-gnu/libvulkan.so.1; do
  ldd "$f" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  cp -L "$lib" "$out/lib/"
done
cp -L /usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$out/lib/"
cp -L /lib64/ld-linux-x86-64.so.2 "$out/lib/"
# Debian's gdk-pixbuf has PNG and JPEG built in but registers them only
# once it has read a loaders cache; device-run.sh points its @LOADERS@
# at where the pack's loaders lie there.
sed "s#$moduledir#@LOADERS@#" "$(pkg-config --variable=gdk_pixbuf_cache_file gdk-pixbuf-2.0)" \
  > "$out/loaders.cache"
# ...and tells formats apart through GIO's content types, which need the
# shared MIME database.
mkdir -p "$out/share/mime"
cp /usr/share/mime/mime.cache "$out/share/mime/"
du -sh "$out"
# What a run carries: the tracked files and .gl, within 64 MiB.
carried=$(( $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) + $(du -sb .gl | cut -f1) ))
echo "carried with the tree: $(( carried >> 20 )) MiB of 64"
if [ "$carried" -gt $(( 64 << 20 )) ]; then
  echo "too much to carry: pack fewer tests (TESTS=\"test-a test-b\")" >&2
  exit 1
fi
