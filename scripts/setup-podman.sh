#!/usr/bin/env bash
# Make rootful podman usable on a sandboxed CI machine with no Docker daemon and no reachable
# container registry. Idempotent: each step is skipped when already done.
#
#   1. /etc/containers/containers.conf: runc (crun fails in this sandbox), cgroupfs (no systemd),
#      and ulimits the sandbox accepts (podman's defaults ask for more than it grants).
#   2. A local Python base image built from Debian's own packages with debootstrap, because
#      `FROM python:3.x-slim` cannot be pulled without a registry. Pass it to the build with
#      `--build-arg BASE_IMAGE=localhost/python-base:bookworm`.
#
# Environment: BASE_IMAGE (default localhost/python-base:bookworm), DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-localhost/python-base:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CONF=/etc/containers/containers.conf
MARKER="# Written by fashion-serve scripts/setup-podman.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-podman.sh: run as root (rootful podman is what works in this sandbox)" >&2
    exit 1
fi
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || {
        echo "setup-podman.sh: $tool is missing; run scripts/install-system-deps.sh" >&2
        exit 1
    }
done

write_containers_conf() {
    mkdir -p "$(dirname "$CONF")"
    cat >"$CONF" <<EOF
$MARKER
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
EOF
    echo "setup-podman.sh: wrote $CONF"
}

if [ ! -e "$CONF" ]; then
    write_containers_conf
elif head -n1 "$CONF" | grep -qxF "$MARKER"; then
    grep -q 'runtime = "runc"' "$CONF" || write_containers_conf
else
    # Someone else's configuration: leave it alone, only say what this sandbox needed.
    grep -q 'runtime *= *"runc"' "$CONF" || echo "setup-podman.sh: keeping $CONF as it is;" \
        "if podman fails, set runtime, cgroup_manager and default_ulimits as in this script" >&2
fi

if podman image exists "$BASE_IMAGE"; then
    echo "setup-podman.sh: $BASE_IMAGE already present"
    exit 0
fi

rootfs="$(mktemp -d /var/tmp/python-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "setup-podman.sh: building $BASE_IMAGE with debootstrap ($DEBIAN_SUITE, about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >/dev/null
# What an image does not need: package caches and lists, documentation, man pages, locales.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | podman import --quiet \
    --change 'CMD ["python3"]' \
    --change 'ENV LANG=C.UTF-8' \
    - "$BASE_IMAGE" >/dev/null
podman image ls "$BASE_IMAGE"
