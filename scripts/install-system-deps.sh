#!/usr/bin/env bash
# Debian packages the tests need: the Fashion-MNIST data set, and a container engine
# (podman with runc, plus debootstrap to build a local base image when no registry is reachable).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    dataset-fashion-mnist podman runc debootstrap >/dev/null
