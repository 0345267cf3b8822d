# Real containers without Docker: podman/buildah build the images (make images), containerd + runc
# + the CNI plugins run them under a real kubelet (make cluster-up REAL=1), mmdebstrap makes the
# Debian base rootfs that every image starts from (nothing can be pulled from a registry here).
# All from Debian. crun is not used: it fails in some sandboxes (setrlimit on hybrid cgroups),
# so containers.conf selects runc and pins the ulimits it would otherwise copy from the host.
containers_apt=()
for pkg in podman buildah containerd runc mmdebstrap containernetworking-plugins uidmap fuse-overlayfs iptables ipset; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || containers_apt+=("$pkg")
done
if ((${#containers_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${containers_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${containers_apt[@]}" >/dev/null
    # Debian enables containerd as a system service; the real node runs its own private one.
    (systemctl disable --now containerd 2>/dev/null || service containerd stop 2>/dev/null || true) >/dev/null 2>&1
  else
    echo "missing system packages: ${containers_apt[*]} (sudo apt-get install ${containers_apt[*]})" >&2
    exit 1
  fi
fi
if [ "$(id -u)" = 0 ] && ! cmp -s scripts/containers.conf /etc/containers/containers.conf; then
  log "installing /etc/containers/containers.conf (runc, pinned ulimits)"
  install -D -m 0644 scripts/containers.conf /etc/containers/containers.conf
fi

# CoreDNS for the real node (tools/coredns: a pinned module and a main with only the plugins it needs),
# static. Rebuilt only when the module changes.
coredns_stamp="$(cat tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go | sha256sum | cut -c1-16)"
if [ ! -x "$TOOLS_BIN/coredns" ] || [ "$(cat "$TOOLS_BIN/.coredns.version" 2>/dev/null)" != "$coredns_stamp" ]; then
  log "go build coredns (tools/coredns)"
  (cd tools/coredns && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o "$TOOLS_BIN/coredns" .)
  echo "$coredns_stamp" > "$TOOLS_BIN/.coredns.version"
fi
