#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks drive: real registry clients,
# dockerd, PostgreSQL (throwaway clusters for the metadata tests), Ceph (radosgw: a real S3
# for the object-storage tests), CNCF Distribution (docker-registry) as the benchmark
# reference, rpm, db5.3-util and binutils (real rpm databases, SQLite and Berkeley DB, and ELF
# sections for the scanner's tests); debootstrap, runc and systemd (systemd-analyze) for the
# deployment files' tests: a Debian base for the image built from deploy/Containerfile, the
# runtime podman and buildah run it with, and the unit file checked; apache2-utils (htpasswd:
# bcrypt password files for Distribution as an authenticating pull-through upstream);
# chromium, which Playwright drives for the gallery's and console's browser tests.
set -euo pipefail
PKGS=(skopeo buildah podman docker.io docker-registry uidmap fuse-overlayfs
      containernetworking-plugins iptables golang-github-containers-common postgresql
      ceph-mon ceph-osd radosgw rpm db5.3-util binutils debootstrap runc systemd
      apache2-utils chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
