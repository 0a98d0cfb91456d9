#!/usr/bin/env bash
# Installs and configures a container engine that runs the images on a Debian machine with no Docker
# engine: podman + runc from Debian, podman-compose from PyPI (Debian's 1.0.3 does not expand
# `${VAR:-}`). Prints the variables to export; `source <(tools/containers/podman-setup.sh)` applies them.
#
# Why each setting (found by trying on these machines, see ../shared/CONTAINERS.md):
# - runc, not crun: crun fails with "cgroups in hybrid mode not supported";
# - cgroupfs and a file events logger: no systemd runs here;
# - default_ulimits within the host's hard limits, or every container fails in setrlimit;
# - BUILDAH_FORMAT=docker: the OCI format drops HEALTHCHECK and reuses no layer cache.
set -euo pipefail

CONF_DIR=${ALFAGENT_CONTAINERS_CONF_DIR:-/etc/alfagent-containers}
PODMAN_COMPOSE_VERSION=1.6.0
VENV=${ALFAGENT_PODMAN_COMPOSE_VENV:-/opt/podman-compose}

missing=()
for tool in podman runc mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc mmdebstrap slirp4netns uidmap \
    containernetworking-plugins golang-github-containernetworking-plugin-dnsname >/dev/null
fi

if ! "$VENV/bin/podman-compose" version 2>/dev/null | grep -q "$PODMAN_COMPOSE_VERSION"; then
  echo "installing podman-compose==$PODMAN_COMPOSE_VERSION" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "podman-compose==$PODMAN_COMPOSE_VERSION" >&2
fi

mkdir -p "$CONF_DIR"
hard_nofile=$(ulimit -Hn)
cat >"$CONF_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

cat <<EOF
export CONTAINERS_CONF=$CONF_DIR/containers.conf
export BUILDAH_FORMAT=docker
export PATH=$VENV/bin:\$PATH
EOF
