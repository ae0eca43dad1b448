#!/bin/sh
# Validates the SPIR-V modules glslang built, including the tensor-core
# variants no CPU driver loads (so the validation layer never sees them):
#   spirv-valid.sh SPIRV_VAL ENV:MODULE...
# A validator older than the compiler may not know a module's
# capabilities or extensions: such modules are reported and skipped.
val=$1
shift
status=0
for arg in "$@"; do
  env=${arg%%:*}
  module=${arg#*:}
  if out=$("$val" --target-env "$env" "$module" 2>&1); then
    continue
  fi
  case $out in
    *"not supported"*|*"Invalid capability"*|*"Invalid extension"*|*"requires SPIR-V version"*)
      echo "skipped $(basename "$module"): this spirv-val predates it: $out" ;;
    *)
      echo "$(basename "$module") ($env): $out"
      status=1 ;;
  esac
done
exit $status
