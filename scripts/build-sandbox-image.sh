#!/usr/bin/env bash
# Builds the sandbox image (images/sandbox/Dockerfile) from the repository root.
#   bash scripts/build-sandbox-image.sh [TAG]                 # base image pulled from its registry
#   bash scripts/build-sandbox-image.sh --offline-base [TAG]  # no registry: the base is made here
# TAG defaults to codeinstruct-sandbox:dev. ENGINE picks podman or docker (default: the first
# found, podman first). --offline-base (root, Debian, `apt-get install podman debootstrap`) makes
# debian:bookworm-slim with debootstrap from Debian's mirror (MIRROR, default deb.debian.org) when
# the engine has no image of that name, so only Debian's mirror and PyPI need be reachable.
# CA_BUNDLE (default: $PIP_CERT) is a CA bundle for pip behind a TLS-intercepting proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

offline=false
if [[ "${1:-}" == "--offline-base" ]]; then
  offline=true
  shift
fi
tag=${1:-codeinstruct-sandbox:dev}
base=debian:bookworm-slim
mirror=${MIRROR:-http://deb.debian.org/debian}
engine=${ENGINE:-$(command -v podman || command -v docker || true)}
if [[ -z "$engine" ]]; then
  echo "build-sandbox-image: neither podman nor docker is installed (apt-get install podman)" >&2
  exit 1
fi

if $offline && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || {
    echo "build-sandbox-image: --offline-base needs debootstrap (apt-get install debootstrap)" >&2
    exit 1
  }
  rootfs=$(mktemp -d /var/tmp/bookworm-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "making $base from $mirror in $rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
  # The sources of Debian's own image: the release, its updates and its security fixes.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # Slim, as Debian's image is: no apt lists, caches, documentation or locales.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/*
  tar -C "$rootfs" --numeric-owner -c . | "$engine" import - "$base"
fi

# Host networking: the build's apt and pip reach Debian's mirror and PyPI as the host does.
flags=(--network host)
# Podman runs RUN steps in a chroot by default here: its OCI runtime (crun) cannot create
# containers on a machine with cgroups in hybrid mode ("cgroups in hybrid mode not supported").
[[ "$(basename "$engine")" == podman ]] && flags+=(--isolation "${ISOLATION:-chroot}")
# Behind a TLS-intercepting proxy, pip needs its CA bundle: given to the build as a secret.
ca=${CA_BUNDLE:-${PIP_CERT:-}}
[[ -n "$ca" && -f "$ca" ]] && flags+=(--secret "id=ca,src=$ca")
start=$SECONDS
"$engine" build "${flags[@]}" -f images/sandbox/Dockerfile -t "$tag" .
echo "built $tag in $((SECONDS - start)) s: $("$engine" image inspect --format '{{.Size}}' "$tag") bytes"
