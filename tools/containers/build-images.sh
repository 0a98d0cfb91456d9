#!/usr/bin/env bash
# Builds every service image from its target of the root Dockerfile, tagged as docker-compose.yml
# names it, and says how long each took and how big it is.
# Usage: tools/containers/build-images.sh [docker|podman] [target ...]
set -euo pipefail
cd "$(dirname "$0")/../.."

engine=${1:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(env store agent llm)

started=$(date +%s)
for target in "${targets[@]}"; do
  begin=$(date +%s)
  echo "building alfagent-$target (target $target) with $engine"
  "$engine" build --target "$target" -t "alfagent-$target" .
  size=$("$engine" image inspect "alfagent-$target" --format '{{.Size}}')
  echo "alfagent-$target: $(($(date +%s) - begin)) s, $((size / 1000000)) MB"
done
echo "all images: $(($(date +%s) - started)) s"
