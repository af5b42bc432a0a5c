#!/usr/bin/env bash
# The command-line tools the deploy tests run, installed once where they are missing:
#   promtool  from Debian's package `prometheus` (checks the Prometheus config, rules and alert tests)
#   helm      built from the Go module proxy into .tools/bin (lints and renders the chart)
#   kubeconform  built from the Go module proxy into .tools/bin (checks every object the chart renders
#             against the schemas in deploy/schemas/, offline)
#   chromium  Debian's package, which the console's browser tests drive (Playwright; no browser is downloaded)
# Prints nothing on stdout; progress goes to stderr.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS_BIN=${REPO_DIR}/.tools/bin
HELM_VERSION=${SCHILD_HELM_VERSION:-v4.3.2}
KUBECONFORM_VERSION=${SCHILD_KUBECONFORM_VERSION:-v0.7.0}

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [[ ${EUID} -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! command -v promtool >/dev/null; then
  log "promtool not found; installing Debian's prometheus package (its daemon is not started)"
  as_root apt-get update >&2 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >&2 \
    || die "apt-get install prometheus failed"
  command -v promtool >/dev/null || die "the prometheus package did not provide promtool"
fi

if [[ ! -x ${SCHILD_CHROMIUM:-/usr/bin/chromium} ]]; then
  log "chromium not found; installing Debian's chromium package (the console's browser tests)"
  as_root apt-get update >&2 || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 \
    || die "apt-get install chromium failed"
fi

# `go install` leaves no version in the binary, so a stamp beside it says which one was built.
HELM_STAMP=${TOOLS_BIN}/.helm-version
if [[ ! -x ${TOOLS_BIN}/helm || $(cat "${HELM_STAMP}" 2>/dev/null) != "${HELM_VERSION}" ]]; then
  command -v go >/dev/null || die "go not found (needed once to build helm ${HELM_VERSION})"
  log "building helm ${HELM_VERSION} from the Go module proxy into ${TOOLS_BIN} (a few minutes, once)"
  mkdir -p "${TOOLS_BIN}"
  GOBIN=${TOOLS_BIN} GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}" >&2 \
    || die "go install helm.sh/helm/v4/cmd/helm@${HELM_VERSION} failed"
  printf '%s\n' "${HELM_VERSION}" >"${HELM_STAMP}"
fi

KUBECONFORM_STAMP=${TOOLS_BIN}/.kubeconform-version
if [[ ! -x ${TOOLS_BIN}/kubeconform || $(cat "${KUBECONFORM_STAMP}" 2>/dev/null) != "${KUBECONFORM_VERSION}" ]]; then
  command -v go >/dev/null || die "go not found (needed once to build kubeconform ${KUBECONFORM_VERSION})"
  log "building kubeconform ${KUBECONFORM_VERSION} from the Go module proxy into ${TOOLS_BIN} (once)"
  mkdir -p "${TOOLS_BIN}"
  GOBIN=${TOOLS_BIN} GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}" >&2 \
    || die "go install github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION} failed"
  printf '%s\n' "${KUBECONFORM_VERSION}" >"${KUBECONFORM_STAMP}"
fi
