# Tools for the local Kubernetes cluster and the chart's checks (docs/kubernetes.md), each pinned by
# a tools module under tools/<name>/ (go.mod + go.sum + tools.go) and installed into $TOOLS_BIN:
#   tools/k8s            kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet,
#                        kube-proxy v1.35.0 (staging modules replaced by their published twins)
#   tools/etcd           etcd 3.6
#   tools/kwok           kwok (simulated nodes) + its stage files in .tools/share/kwok/
#   tools/helm           helm, stamped like its own Makefile does (version, Kubernetes version)
#   tools/controller-gen controller-gen + prometheus-operator CRDs in .tools/share/crds/
#   tools/chart-testing  ct + its lint/schema files in .tools/share/ct/
#   tools/conftest       conftest (Rego policies in charts/payment/policy/)
#   tools/python         checkov, yamllint, yamale (ct lint) in their own venv, .tools/pyvenv
# A binary is rebuilt only when its stamp (.NAME.version: version + hash of the module and flags)
# changes, so a warm `make setup` costs a few hashes. The Kubernetes commands are built by ONE
# `go install` so they share the compile of the packages they have in common (~380 s cold, 2 cores).
# Sourced by scripts/setup.sh (log, TOOLS_BIN available; set -euo pipefail in force).

K8S_VERSION=v1.35.0
K8S_COMMIT=66452049f3d692768c39c797b21b793dce80314e # the v1.35.0 tag (go mod download -json)
SHARE_DIR="$(dirname "$TOOLS_BIN")/share"
mkdir -p "$SHARE_DIR"

# module_stamp DIR VERSION [EXTRA...]: VERSION plus a short hash of the module files and build flags.
module_stamp() {
  local dir=$1 version=$2; shift 2
  printf '%s+%s\n' "$version" "$({ cat "tools/$dir/go.mod" "tools/$dir/go.sum"; echo "$*"; } | sha256sum | cut -c1-12)"
}
stamp_ok() { [ -x "$TOOLS_BIN/$1" ] && [ "$(cat "$TOOLS_BIN/.$1.version" 2>/dev/null)" = "$2" ]; }

# module_install DIR STAMP LDFLAGS NAME=PACKAGE...: one `go install` for every NAME not at STAMP.
module_install() {
  local dir=$1 stamp=$2 ldflags=$3; shift 3
  local names=() pkgs=() pair
  for pair in "$@"; do
    stamp_ok "${pair%%=*}" "$stamp" || { names+=("${pair%%=*}"); pkgs+=("${pair#*=}"); }
  done
  ((${#pkgs[@]})) || return 0
  log "go install ${names[*]} (tools/$dir, $stamp)"
  local start=$SECONDS
  (cd "tools/$dir" && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod GONOSUMDB=github.com/helm/chart-testing \
    go install -trimpath -ldflags "$ldflags" "${pkgs[@]}")
  for pair in "$@"; do # go names a binary after its package path, skipping a /vN suffix: rename to NAME
    local name=${pair%%=*} pkg=${pair#*=}
    local built=${pkg##*/}; [[ $built =~ ^v[0-9]+$ ]] && { built=${pkg%/*}; built=${built##*/}; }
    if [ "$built" != "$name" ] && [ -e "$TOOLS_BIN/$built" ]; then mv -f "$TOOLS_BIN/$built" "$TOOLS_BIN/$name"; fi
  done
  for pair in "${names[@]}"; do echo "$stamp" > "$TOOLS_BIN/.$pair.version"; done
  log "built ${names[*]} in $((SECONDS - start)) s"
}
module_dir() { (cd "tools/$1" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "$2"); }

# Kubernetes: without the version stamp the server reports v0.0.0-master and helm refuses the
# chart's kubeVersion constraint.
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=35"
  k8s_ldflags+=" -X $pkg.gitCommit=$K8S_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=2025-12-17T00:00:00Z"
done
module_install k8s "$(module_stamp k8s "$K8S_VERSION" "$k8s_ldflags")" "$k8s_ldflags" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl \
  kubelet=k8s.io/kubernetes/cmd/kubelet \
  kube-proxy=k8s.io/kubernetes/cmd/kube-proxy

module_install etcd "$(module_stamp etcd v3.6.16 -s -w)" "-s -w" etcd=go.etcd.io/etcd/server/v3

kwok_stamp="$(module_stamp kwok v0.8.0 -s -w)"
module_install kwok "$kwok_stamp" "-s -w" kwok=sigs.k8s.io/kwok/cmd/kwok
if [ "$(cat "$SHARE_DIR/kwok/.version" 2>/dev/null)" != "$kwok_stamp" ]; then
  # The stock stages as kwok's own kustomize tree ships them: node heartbeat, pod ready/complete/delete,
  # volumes provisioned and bound for the kwok-volume StorageClass (storage-class.yaml).
  rm -rf "$SHARE_DIR/kwok" && mkdir -p "$SHARE_DIR/kwok"
  kwok_src="$(module_dir kwok sigs.k8s.io/kwok)/kustomize/stage"
  cp "$kwok_src"/node/fast/node-initialize.yaml "$kwok_src"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
     "$kwok_src"/pod/fast/pod-{ready,complete,delete}.yaml "$kwok_src"/volume/fast/{pv-bind,pv-delete,pvc-provision,pvc-delete}.yaml \
     "$kwok_src"/volume/fast/storage-class.yaml "$SHARE_DIR/kwok/"
  echo "$kwok_stamp" > "$SHARE_DIR/kwok/.version"
fi

# helm: the same -X flags as helm's Makefile, the Kubernetes version taken from its client-go.
helm_k8s_minor="$(cd tools/helm && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0 -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$helm_k8s_minor"
done
module_install helm "$(module_stamp helm v3.22.0 "$helm_ldflags")" "$helm_ldflags" helm=helm.sh/helm/v3/cmd/helm

cg_stamp="$(module_stamp controller-gen v0.20.0 -s -w)"
module_install controller-gen "$cg_stamp" "-s -w" controller-gen=sigs.k8s.io/controller-tools/cmd/controller-gen
if [ "$(cat "$SHARE_DIR/crds/.version" 2>/dev/null)" != "$cg_stamp" ]; then
  # prometheus-operator's monitoring.coreos.com/v1 CRDs from the Go types (no download from GitHub).
  log "controller-gen: prometheus-operator CRDs"
  rm -rf "$SHARE_DIR/crds" && mkdir -p "$SHARE_DIR/crds"
  (cd tools/controller-gen && GOFLAGS=-mod=mod "$TOOLS_BIN/controller-gen" crd:maxDescLen=0 \
    paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
    output:crd:dir="$SHARE_DIR/crds")
  echo "$cg_stamp" > "$SHARE_DIR/crds/.version"
fi

ct_stamp="$(module_stamp chart-testing v3.12.0 -s -w)"
module_install chart-testing "$ct_stamp" "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=v3.12.0" \
  ct=github.com/helm/chart-testing/v3/ct
if [ "$(cat "$SHARE_DIR/ct/.version" 2>/dev/null)" != "$ct_stamp" ]; then
  rm -rf "$SHARE_DIR/ct" && mkdir -p "$SHARE_DIR/ct"
  cp "$(GONOSUMDB=github.com/helm/chart-testing module_dir chart-testing github.com/helm/chart-testing/v3)"/etc/{chart_schema.yaml,lintconf.yaml} "$SHARE_DIR/ct/"
  echo "$ct_stamp" > "$SHARE_DIR/ct/.version"
fi

module_install conftest "$(module_stamp conftest v0.71.1 -s -w)" "-s -w" conftest=github.com/open-policy-agent/conftest

# Python tools with dependency trees of their own (checkov pins dozens of packages): a separate venv
# so they never constrain the service's lock.
pytools_stamp="$(sha256sum tools/python/requirements.txt | cut -c1-12)"
if [ "$(cat "$SHARE_DIR/../pyvenv/.installed" 2>/dev/null)" != "$pytools_stamp" ]; then
  log "installing checkov, yamllint, yamale (tools/python/requirements.txt) into .tools/pyvenv"
  "${PYTHON:-python3}" -m venv "$SHARE_DIR/../pyvenv"
  "$SHARE_DIR/../pyvenv/bin/pip" install -q -r tools/python/requirements.txt
  echo "$pytools_stamp" > "$SHARE_DIR/../pyvenv/.installed"
fi
for tool in checkov yamllint yamale; do ln -sf ../pyvenv/bin/$tool "$TOOLS_BIN/$tool"; done
