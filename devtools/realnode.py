"""A real node for the local cluster: `make cluster-up REAL=1` (devtools.cluster calls `start`).

Real containers, real networking, next to the control plane and the simulated kwok node:

  containerd (Debian) + runc      its own config, root and socket; pods' sandbox image is the pause
                                  image `make images` builds; images are `ctr import`ed from podman
  CNI bridge `payreal0`           POD_CIDR; pods get a route to the Service range and nothing else,
                                  so no pod can send a packet off this machine (no default route)
  kubelet v1.35                   node `localhost` (the API server reaches it by Hostname), tainted
                                  REAL_NODE_TAINT so nothing lands there without tolerating it
  kube-proxy v1.35 (iptables)     Services; NodePorts answer on 127.0.0.0/8 only
  CoreDNS (tools/coredns)         cluster.local on the bridge's address, from the Kubernetes API;
                                  no forwarding, so no name outside the cluster is ever resolved
  kube-router v2 (--run-firewall) with REAL_NETWORK_POLICY=1: NetworkPolicies, enforced with iptables
                                  and ipsets on the bridge's traffic (br_netfilter); routing and
                                  Services stay the bridge's and kube-proxy's
  a StorageClass + hostPath PVs   `real-node-local`, for the bundled PostgreSQL

All state lives in <cluster>/realnode and a short run directory for the sockets; `stop` (called by
the cluster's `down` before it stops the processes) kills every container, removes the pods' network
namespaces, kube-proxy's rules, the bridge and every mount under those directories, and restores the
two sysctls it changed (ip_forward, route_localnet).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from devtools.ports import free_port as _free_port

REPO = Path(__file__).resolve().parents[1]
NODE_NAME = "localhost"
NODE_LABEL = "payment.local/real-node"
REAL_NODE_TAINT = {"key": NODE_LABEL, "value": "true", "effect": "NoSchedule"}
BRIDGE = "payreal0"
POD_CIDR = "10.244.0.0/24"
GATEWAY = "10.244.0.1"
STORAGE_CLASS = "real-node-local"
CNI_BIN = Path("/usr/lib/cni")
PAUSE_IMAGE = "localhost/payment-local/pause:1.0"
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables")
# host port -> NodePort on 127.0.0.1, like kind's extraPortMappings (kind/cluster.yaml). The tests set
# REAL_PORT_MAP="" and use the NodePorts themselves, so a `make run` on :8080 is never shadowed.
PORT_MAP = os.environ.get("REAL_PORT_MAP", "8080:30080,8081:30081")
PORT_MAP_COMMENT = "payment-realnode-port-map"
# REAL_NETWORK_POLICY=1: kube-router enforces NetworkPolicies. Opt-in: under it a rolling upgrade dropped
# requests (503: a new pod served before kube-router had opened its firewall to Envoy), see docs/kubernetes.md.
NETWORK_POLICY = os.environ.get("REAL_NETWORK_POLICY") == "1"
# The kubelet's chains and kube-router's (NetworkPolicy) ones, removed by `stop`.
NODE_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "KUBE-ROUTER-", "KUBE-NWPLCY-",
               "KUBE-POD-FW-")


class RealNodeError(RuntimeError):
    """The real node could not start (the message names the part and its log)."""


def normalized(ref: str) -> str:
    """The name containerd knows an image by, as the kubelet asks for it (docker.io/library/...)."""
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def podman_ref(ref: str) -> str:
    """The name podman stored a locally built image under."""
    return ref if ref.startswith("localhost/") else f"localhost/{ref}"


def cluster_images() -> list[str]:
    out = subprocess.run(["make", "-s", "-C", str(REPO), "images-list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


class RealNode:
    """The real node of one cluster (`cluster` is a devtools.cluster.Cluster)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.dir = cluster.root / "realnode"
        digest = hashlib.sha256(str(cluster.root).encode()).hexdigest()[:10]
        # Unix socket paths are limited to 108 bytes: keep them short whatever the checkout's path.
        self.run = Path("/run") / f"payment-realnode-{digest}"
        self.socket = self.run / "containerd.sock"

    # -- commands -----------------------------------------------------------------------------

    def ctr(self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 600):
        proc = subprocess.run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
                              input=input, capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RealNodeError(f"ctr {' '.join(args[:3])} failed: {proc.stderr.decode(errors='replace')}")
        return proc

    # -- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        if _link_exists(BRIDGE):
            raise RealNodeError(f"bridge {BRIDGE} exists: another real node runs on this machine (make cluster-down)")
        for path in (self.dir / "kubelet", self.dir / "cni", self.dir / "volumes", self.run):
            path.mkdir(parents=True, exist_ok=True)
        self.cluster.state["real_node"] = {"dir": str(self.dir), "run": str(self.run), "sysctls": _sysctls()}
        self.cluster._save()
        self._network()
        self._start_containerd()
        self._load_images()
        self._start_kubelet()
        self._start_kube_proxy()
        self._start_coredns()
        self._storage()
        self._map_ports()
        self._wait_node_ready(time.monotonic() + 120)
        if NETWORK_POLICY:
            self._start_network_policy()

    def _start_network_policy(self) -> None:
        """kube-router as the NetworkPolicy controller only. It reads the node's pod range, which nothing
        allocates here, so the node gets the bridge's; bridged packets must pass through iptables."""
        tool = self.cluster.tools_bin / "kube-router"
        if not tool.exists():
            raise RealNodeError(f"{tool} missing (REAL_NETWORK_POLICY=1 make setup: scripts/setup.d/35-kube-router.sh)")
        Path("/proc/sys/net/bridge/bridge-nf-call-iptables").write_text("1\n")
        self.cluster.kubectl("patch", "node", NODE_NAME, "-p",
                             json.dumps({"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}}))
        self.cluster.spawn("kube-router", [
            str(tool), f"--kubeconfig={self.cluster.kubeconfig}", f"--hostname-override={NODE_NAME}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
            "--enable-pod-egress=false", "--health-port=0", "--metrics-port=0", "--iptables-sync-period=5s",
            f"--service-cluster-ip-range={self.cluster_service_cidr()}", "--v=1",
        ])
        # Its first sync: the pod firewall's chain exists once the controller is running.
        deadline = time.monotonic() + 60
        while b"KUBE-ROUTER-FORWARD" not in subprocess.run(["iptables", "-S"], capture_output=True).stdout:
            self._check_alive("kube-router", deadline)
            time.sleep(0.5)

    def _map_ports(self) -> None:
        for pair in filter(None, PORT_MAP.split(",")):
            host, node = pair.split(":")
            _run(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", "127.0.0.1/32", "-p", "tcp", "--dport", host,
                  "-m", "comment", "--comment", PORT_MAP_COMMENT, "-j", "DNAT", "--to-destination",
                  f"127.0.0.1:{node}"])

    def _network(self) -> None:
        """The bridge first, with the gateway address, so CoreDNS can bind it before any pod exists."""
        for argv in (["ip", "link", "add", BRIDGE, "type", "bridge"],
                     ["ip", "addr", "add", f"{GATEWAY}/{POD_CIDR.split('/')[1]}", "dev", BRIDGE],
                     ["ip", "link", "set", BRIDGE, "up"]):
            _run(argv)
        for key in SYSCTLS[:1]:  # route_localnet is kube-proxy's to set (localhostNodePorts)
            Path("/proc/sys", key).write_text("1\n")
        conflist = {
            "cniVersion": "1.0.0", "name": "payment-real",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(self.dir / "cni-ipam"),
                         "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                         # The Service range only: no default route, nothing leaves the machine.
                         "routes": [{"dst": self.cluster_service_cidr()}]},
            }],
        }
        (self.dir / "cni" / "10-payment-real.conflist").write_text(json.dumps(conflist, indent=2))

    def cluster_service_cidr(self) -> str:
        return self.cluster.service_cidr

    def _start_containerd(self) -> None:
        config = self.dir / "containerd.toml"
        config.write_text(f"""version = 2
root = "{self.dir / 'containerd'}"
state = "{self.run / 'state'}"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # The sandbox refuses containers a lower oom_score_adj than their parent's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.dir / 'cni'}"
""")
        self.cluster.spawn("containerd", ["containerd", "--config", str(config)])
        deadline = time.monotonic() + 30
        while self.ctr("version", check=False).returncode != 0:
            self._check_alive("containerd", deadline)
            time.sleep(0.2)

    def _load_images(self) -> None:
        """Every image `make images` built, from podman's store into containerd's (one archive, shared layers).
        `ctr images import` unpacks into the default (overlayfs) snapshotter; the snapshots are keyed by the
        layers, so the names tagged afterwards share them (containerd 1.6's ctr has no `images unpack`)."""
        refs = cluster_images()
        missing = [r for r in refs if subprocess.run(["podman", "image", "exists", podman_ref(r)]).returncode]
        if missing:
            raise RealNodeError(f"images missing from podman's store: {' '.join(missing)} (run make images)")
        save_log = self.cluster.logs / "podman-save.log"  # its progress lines, kept out of the caller's output
        with open(save_log, "wb") as log:
            save = subprocess.Popen(["podman", "save", "--multi-image-archive", "--format", "docker-archive", "-o",
                                     "/dev/stdout", *(podman_ref(r) for r in refs)], stdout=subprocess.PIPE,
                                    stderr=log)
        imported = subprocess.run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", "images",
                                   "import", "-"], stdin=save.stdout, capture_output=True)
        save.stdout.close()
        if save.wait() != 0 or imported.returncode != 0:
            raise RealNodeError(f"loading the images failed: {imported.stderr.decode(errors='replace')}\n"
                                f"{save_log.read_text(errors='replace')[-2000:]}")
        for ref in refs:
            if normalized(ref) != podman_ref(ref):
                self.ctr("images", "tag", "--force", podman_ref(ref), normalized(ref))
            # The CRI plugin only lists images carrying its label.
            self.ctr("images", "label", normalized(ref), "io.cri-containerd.image=managed")

    def _start_kubelet(self) -> None:
        cluster, pki = self.cluster, self.cluster.pki
        crt, key = cluster.issue_cert("kubelet", f"system:node:{NODE_NAME}", org="system:nodes",
                                      sans=(f"DNS:{NODE_NAME}", "IP:127.0.0.1"))
        kubeconfig = json.loads(cluster.kubeconfig.read_text())
        user = kubeconfig["users"][0]["user"]
        user["client-certificate-data"] = _b64(crt)
        user["client-key-data"] = _b64(key)
        node_kubeconfig = self.dir / "kubelet.kubeconfig"
        node_kubeconfig.write_text(json.dumps(kubeconfig))
        for name in ("kubelet", "kubelet-healthz"):
            cluster.ports[name] = _free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": "127.0.0.1", "port": cluster.ports["kubelet"], "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": cluster.ports["kubelet-healthz"],
            "tlsCertFile": str(crt), "tlsPrivateKeyFile": str(key),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # This machine has cgroup v1 (hybrid); v1.35 refuses it unless told otherwise.
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "clusterDomain": "cluster.local", "clusterDNS": [GATEWAY],
            # Pods resolve through CoreDNS only, never the host's resolvers.
            "resolvConf": "",
            "registerWithTaints": [REAL_NODE_TAINT],
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False, "maxPods": 40, "shutdownGracePeriod": "0s",
        }
        config_path = self.dir / "kubelet.yaml"
        config_path.write_text(json.dumps(config, indent=2))
        cluster.spawn("kubelet", [
            cluster.tool("kubelet"), f"--config={config_path}", f"--kubeconfig={node_kubeconfig}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={GATEWAY}", f"--root-dir={self.dir / 'kubelet'}",
            f"--cert-dir={self.dir / 'kubelet' / 'pki'}", f"--node-labels={NODE_LABEL}=true", "--v=1",
        ])

    def _start_kube_proxy(self) -> None:
        cluster = self.cluster
        for name in ("kube-proxy-healthz", "kube-proxy-metrics"):
            cluster.ports[name] = _free_port()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(cluster.kubeconfig)},
            "hostnameOverride": NODE_NAME, "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{cluster.ports['kube-proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{cluster.ports['kube-proxy-metrics']}",
            "mode": "iptables", "clusterCIDR": POD_CIDR,
            # NodePorts on loopback only, like kind's extraPortMappings on 127.0.0.1.
            "nodePortAddresses": ["127.0.0.0/8"],
            # Every Service connection is masqueraded, so replies always pass back through the host.
            "iptables": {"masqueradeAll": True, "localhostNodePorts": True, "syncPeriod": "5s",
                         "minSyncPeriod": "0s"},
            # Leave the host's conntrack sysctls alone.
            "conntrack": {"maxPerCore": 0, "min": 0},
        }
        path = self.dir / "kube-proxy.yaml"
        path.write_text(json.dumps(config, indent=2))
        cluster.spawn("kube-proxy", [cluster.tool("kube-proxy"), f"--config={path}"])

    def _start_coredns(self) -> None:
        corefile = self.dir / "Corefile"
        corefile.write_text(f""".:53 {{
    bind {GATEWAY}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.cluster.kubeconfig} payment-local
        pods insecure
        ttl 5
    }}
    cache 5
}}
""")
        self.cluster.spawn("coredns", [self.cluster.tool("coredns"), "-conf", str(corefile)])

    def _storage(self) -> None:
        objects = [{
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Delete",
        }]
        for index in range(3):
            path = self.dir / "volumes" / f"pv{index}"
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # hostPath volumes ignore fsGroup; any pod uid may initialise them
            objects.append({
                "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"real-node-pv{index}"},
                "spec": {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                         "storageClassName": STORAGE_CLASS, "persistentVolumeReclaimPolicy": "Retain",
                         "hostPath": {"path": str(path), "type": "Directory"},
                         "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                             {"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE_NAME]}]}]}}},
            })
        self.cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                   "items": objects}))

    def _wait_node_ready(self, deadline: float) -> None:
        while True:
            node = self.cluster.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
            if node.returncode == 0:
                conditions = json.loads(node.stdout).get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return
            for name in ("containerd", "kubelet", "kube-proxy", "coredns"):
                self._check_alive(name, deadline)
            time.sleep(0.5)

    def _check_alive(self, name: str, deadline: float) -> None:
        proc = next(p for p in self.cluster.state["processes"] if p["name"] == name)
        if not self.cluster._alive(proc):
            raise RealNodeError(f"{name} exited during start-up\n{self.cluster._log_tail(name)}")
        if time.monotonic() > deadline:
            raise RealNodeError(f"the real node was not ready in time (waiting on {name})\n"
                                f"{self.cluster._log_tail(name)}")

    # -- stop -------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Undo `start`, whatever state it reached. Called before the cluster stops its processes."""
        state = self.cluster.state.get("real_node")
        if not state:
            return
        by_name = {p["name"]: p for p in self.cluster.state["processes"]}
        for name in ("kube-router", "coredns", "kubelet"):
            if name in by_name:
                self.cluster._stop(by_name[name])
        if "containerd" in by_name and self.cluster._alive(by_name["containerd"]):
            self._remove_containers()
        for name in ("kube-proxy", "containerd"):
            if name in by_name:
                self.cluster._stop(by_name[name])
        rules = subprocess.run(["iptables", "-t", "nat", "-S", "OUTPUT"], capture_output=True, text=True).stdout
        for rule in rules.splitlines():
            if PORT_MAP_COMMENT in rule:
                subprocess.run(["iptables", "-t", "nat", *rule.replace("-A", "-D", 1).split()], capture_output=True)
        kube_proxy = self.cluster.tools_bin / "kube-proxy"
        if kube_proxy.exists():
            subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True, check=False)
        _remove_node_chains()
        _unmount_under(Path(state["dir"]), Path(state["run"]))
        if _link_exists(BRIDGE):
            subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        for key, value in state.get("sysctls", {}).items():
            try:
                Path("/proc/sys", key).write_text(f"{value}\n")
            except OSError:
                pass
        shutil.rmtree(state["run"], ignore_errors=True)
        del self.cluster.state["real_node"]
        self.cluster._save()

    def _remove_containers(self) -> None:
        """Kill every task, then remove containers and the pods' network namespaces (containerd's CRI names
        them in each sandbox's spec). One container at a time took about a minute for the chart's ~20, so
        each step runs for all of them at once."""
        listed = self.ctr("containers", "list", "--quiet", check=False).stdout.decode().split()
        if not listed:
            return
        netns = set()

        def kill(container: str) -> None:
            info = self.ctr("containers", "info", container, check=False)
            if info.returncode == 0:
                spec = json.loads(info.stdout).get("Spec") or {}
                for ns in (spec.get("linux") or {}).get("namespaces", []):
                    if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
                        netns.add(ns["path"])
            self.ctr("tasks", "kill", "--signal", "SIGKILL", container, check=False, timeout=30)

        def remove(container: str) -> None:
            for _ in range(50):
                if self.ctr("tasks", "delete", "--force", container, check=False, timeout=30).returncode == 0:
                    break
                if b"not found" in self.ctr("tasks", "ps", container, check=False).stderr:
                    break
                time.sleep(0.1)
            self.ctr("containers", "delete", container, check=False, timeout=30)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(kill, listed))
            list(pool.map(remove, listed))
        for path in netns:
            subprocess.run(["umount", path], capture_output=True, check=False)
            Path(path).unlink(missing_ok=True)


def start(cluster) -> None:
    """Join a real node to `cluster` (devtools.cluster.Cluster.up(real=True))."""
    RealNode(cluster).start()


def stop(cluster) -> None:
    """Remove the real node of `cluster`, if it has one (devtools.cluster.Cluster.down)."""
    RealNode(cluster).stop()


def _sysctls() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text().strip() for key in SYSCTLS if Path("/proc/sys", key).exists()}


def _remove_node_chains() -> None:
    """The iptables chains the kubelet and kube-router add (kube-proxy --cleanup leaves them, and kube-router's
    --cleanup-config panics in v2.1.0): the jumps into them, then the chains, then kube-router's ipsets."""
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            rules = subprocess.run([tool, "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()
            chains = [r.split()[1] for r in rules if r.startswith("-N ") and r.split()[1].startswith(NODE_CHAINS)]
            for rule in rules:
                argv = shlex.split(rule)
                if argv[0] == "-A" and not argv[1].startswith(NODE_CHAINS) and "-j" in argv \
                        and argv[argv.index("-j") + 1] in chains:
                    subprocess.run([tool, "-t", table, "-D", *argv[1:]], capture_output=True)
            for flag in ("-F", "-X"):
                for chain in chains:
                    subprocess.run([tool, "-t", table, flag, chain], capture_output=True)
    if shutil.which("ipset"):
        for name in subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True).stdout.split():
            if name.startswith(("KUBE-SRC-", "KUBE-DST-")):
                subprocess.run(["ipset", "destroy", name], capture_output=True)


def _unmount_under(*roots: Path) -> None:
    """Unmount everything mounted below `roots`, deepest first (kubelet's tmpfs, containerd's shm...)."""
    prefixes = [str(root.resolve()) + "/" for root in roots]
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount in sorted({m for m in mounts if any(m.startswith(p) for p in prefixes)}, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RealNodeError(f"{' '.join(argv)} failed: {proc.stderr}")


if __name__ == "__main__":  # `python -m devtools.realnode images`: what would be loaded, and as what
    for ref in cluster_images():
        print(f"{podman_ref(ref)} -> {normalized(ref)}")
    os._exit(0)
