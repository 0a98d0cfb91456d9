#!/usr/bin/env bash
# Where no container registry can be reached, builds a stand-in for the Dockerfile's base image
# (`python:3.11-slim`) from Debian's packages and tags it with the exact name the Dockerfile's
# PYTHON_IMAGE gives, so `podman build --pull=never` finds it. Debian bookworm's Python is 3.11 at
# /usr/bin/python3; links in /usr/local/bin make it look like the official image.
# The host's CA bundle goes in too, so pip inside builds trusts what the host trusts.
# Usage: tools/containers/standin-base.sh [engine]   (engine: podman, the default)
set -euo pipefail
cd "$(dirname "$0")/../.."

engine=${1:-podman}
image=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)
if "$engine" image exists "$image" 2>/dev/null; then
  echo "$image: present"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
echo "$image: building a stand-in from Debian bookworm's packages (about a minute)"
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  --customize-hook='chroot "$1" sh -c "ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/python3 /usr/local/bin/python3"' \
  --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$work/base.tar"
"$engine" import \
  --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["python3"]' \
  "$work/base.tar" "$image" >/dev/null
echo "$image: stand-in ready in $(($(date +%s) - started)) s"
