"""A real Kubernetes control plane on this machine, without Docker: `make cluster-up` / `make cluster-down`.

The pieces are the real ones, built by `make setup` from pinned tools modules (tools/k8s, tools/etcd,
tools/kwok): etcd 3.6, kube-apiserver, kube-controller-manager and kube-scheduler v1.35.0, and kwok,
which plays the kubelet of one simulated node (`kwok-node`): pods are scheduled, admitted (Pod
Security, quotas, service accounts), owned and garbage-collected for real, but no container runs.
Their status comes from kwok's stages (.tools/share/kwok/ plus devtools/kwok-stages.yaml).

Everything listens on free loopback ports and lives in one data directory (default .data/cluster):
PKI, etcd data, logs, the kubeconfig (`<dir>/kubeconfig`) and `state.json`, which records every
process this module started (pid and start time) so `down` stops exactly those, even from another
process, and then deletes the directory. A failed `up` cleans up after itself.

Issue 17 extends it with a real kubelet node: `up(real=True)` (make cluster-up REAL=1) calls
`devtools.realnode.start(cluster)`, which can use `spawn`, `issue_cert`, `kubectl`, `ports` and
`register_cleanup` below and records itself in `state["real_node"]`; `down` then calls
`devtools.realnode.stop(cluster)` before it stops the processes and runs the registered cleanups.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from devtools.ports import free_port

REPO = Path(__file__).resolve().parents[1]
TOOLS_BIN = REPO / ".tools" / "bin"
SHARE = REPO / ".tools" / "share"
DEFAULT_DIR = REPO / ".data" / "cluster"
STAGES = REPO / "devtools" / "kwok-stages.yaml"
K8S_VERSION = "v1.35.0"
SERVICE_CIDR = "10.96.0.0/16"
KWOK_NODE = "kwok-node"
# Annotation kwok manages nodes by; a real node (issue 17) does not carry it.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class ClusterError(RuntimeError):
    """The cluster could not be brought up (the message says which part and where its log is)."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # exited; a child of this process (`up` and `down` in one run) until reaped
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return None
    return fields[19]


class Cluster:
    """One local cluster rooted at `root`; its state survives in root/state.json between processes."""

    service_cidr = SERVICE_CIDR  # read by the real node (devtools.realnode), which must not import this module

    def __init__(self, root: Path = DEFAULT_DIR, tools_bin: Path = TOOLS_BIN, share: Path = SHARE):
        self.root = Path(root).resolve()
        self.tools_bin = tools_bin
        self.share = share
        self.pki = self.root / "pki"
        self.logs = self.root / "logs"
        self.kubeconfig = self.root / "kubeconfig"
        self.state_file = self.root / "state.json"
        self.state: dict = {"processes": [], "ports": {}, "cleanups": []}
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())

    # -- what extensions (issue 17) build on -------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        return self.state["ports"]

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def env(self) -> dict[str, str]:
        """The environment for kubectl, helm and ct against this cluster (tools from .tools/bin first)."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.tools_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def tool(self, name: str) -> str:
        path = self.tools_bin / name
        if not os.access(path, os.X_OK):
            raise ClusterError(f"{path} is missing: run make setup")
        return str(path)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120):
        proc = subprocess.run([self.tool("kubectl"), *args], input=input, capture_output=True, text=True,
                              env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        """Start a long-running process in its own session, logging to logs/NAME.log; `down` stops it."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env, cwd=self.root)
        self.state["processes"].append({"name": name, "pid": proc.pid, "start": _start_time(proc.pid)})
        self._save()
        return proc.pid

    def register_cleanup(self, argv: list[str]) -> None:
        """A command `down` runs (after stopping the processes, before deleting the directory)."""
        self.state["cleanups"].append(argv)
        self._save()

    def issue_cert(self, name: str, cn: str, org: str | None = None, sans: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A key and a certificate signed by the cluster CA (client and server usage): pki/NAME.{crt,key}."""
        crt, key = self.pki / f"{name}.crt", self.pki / f"{name}.key"
        subject = f"/CN={cn}" + (f"/O={org}" if org else "")
        args = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(crt), "-days", "365", "-subj", subject,
                "-CA", str(self.pki / "ca.crt"), "-CAkey", str(self.pki / "ca.key"),
                "-addext", "basicConstraints=critical,CA:FALSE",
                "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
                "-addext", "extendedKeyUsage=clientAuth,serverAuth"]
        if sans:
            args += ["-addext", "subjectAltName=" + ",".join(sans)]
        _run(args)
        return crt, key

    # -- up / down ------------------------------------------------------------------------------

    def running(self) -> bool:
        return bool(self.state["processes"]) and all(self._alive(p) for p in self.state["processes"])

    def up(self, *, real: bool = False, timeout: float = 120) -> None:
        if self.running():
            return
        if self.root.exists():
            self.down()
        started = time.monotonic()
        try:
            self.root.mkdir(parents=True)
            self.state = {"processes": [], "ports": {}, "cleanups": [], "kubernetes": K8S_VERSION}
            self.state["ports"] = {name: free_port() for name in
                                   ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")}
            self._save()
            self._make_pki()
            self._write_kubeconfig()
            self._start_etcd()
            self._start_apiserver(deadline=started + timeout)
            self._start_controllers()
            self._start_kwok()
            self._wait_ready(deadline=started + timeout)
            if real:
                self._start_real_node()
        except BaseException:
            self.down(keep_logs=True)
            raise
        self.state["up_seconds"] = round(time.monotonic() - started, 1)
        self._save()

    def down(self, keep_logs: bool = False) -> None:
        """Stop every recorded process (SIGTERM, then SIGKILL), run the cleanups, delete the directory.

        A real node (issue 17) is taken down first by `devtools.realnode.stop`, which knows its containers,
        mounts and network; then the processes, in the reverse order of their start."""
        if self.state.get("real_node"):
            from devtools import realnode

            realnode.stop(self)
        for proc in reversed(self.state.get("processes", [])):
            self._stop(proc)
        for argv in reversed(self.state.get("cleanups", [])):
            subprocess.run(argv, capture_output=True, check=False)
        if keep_logs and self.logs.exists():
            kept = Path(tempfile.mkdtemp(prefix="cluster-logs-"))
            shutil.copytree(self.logs, kept, dirs_exist_ok=True)
            print(f"cluster logs kept in {kept}", file=sys.stderr)
        if self.root.exists() and (self.state_file.exists() or not any(self.root.iterdir())):
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.root.exists():
            raise ClusterError(f"{self.root} has no state.json: not a cluster directory, left alone")
        self.state = {"processes": [], "ports": {}, "cleanups": []}

    # -- internals --------------------------------------------------------------------------------

    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))

    @staticmethod
    def _alive(proc: dict) -> bool:
        return _start_time(proc["pid"]) == proc["start"]

    def _stop(self, proc: dict) -> None:
        if not self._alive(proc):
            return
        try:
            os.killpg(proc["pid"], signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            if not self._alive(proc):
                return
            time.sleep(0.05)
        try:
            os.killpg(proc["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- last lines of {path}:\n" + "\n".join(text)

    def _make_pki(self) -> None:
        self.pki.mkdir(parents=True)
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", str(self.pki / "ca.key"), "-out", str(self.pki / "ca.crt"), "-days", "365",
              "-subj", "/CN=payment-local-cluster-ca"])
        service_ip = SERVICE_CIDR.replace("0.0/16", "0.1")
        names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
        self.issue_cert("apiserver", "kube-apiserver",
                        sans=("DNS:localhost", *(f"DNS:{n}" for n in names), "IP:127.0.0.1", f"IP:{service_ip}"))
        self.issue_cert("admin", "admin", org="system:masters")
        _run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(self.pki / "sa.key")])
        _run(["openssl", "ec", "-in", str(self.pki / "sa.key"), "-pubout", "-out", str(self.pki / "sa.pub")])

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            import base64

            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "payment-local",
            "clusters": [{"name": "payment-local",
                          "cluster": {"server": self.server, "certificate-authority-data": b64(self.pki / "ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": b64(self.pki / "admin.crt"),
                                                 "client-key-data": b64(self.pki / "admin.key")}}],
            "contexts": [{"name": "payment-local", "context": {"cluster": "payment-local", "user": "admin"}}],
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def _start_etcd(self) -> None:
        client, peer = (f"http://127.0.0.1:{self.ports[p]}" for p in ("etcd", "etcd-peer"))
        self.spawn("etcd", [
            self.tool("etcd"), "--name=local", f"--data-dir={self.root / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            # A throwaway cluster: no fsync, a small quota, quiet logs.
            "--unsafe-no-fsync", "--quota-backend-bytes=1073741824", "--log-level=warn",
        ])

    def _start_apiserver(self, deadline: float) -> None:
        pki = self.pki
        self.spawn("kube-apiserver", [
            self.tool("kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.ports['apiserver']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'admin.crt'}", f"--kubelet-client-key={pki / 'admin.key'}",
            "--kubelet-preferred-address-types=Hostname,InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
            "--endpoint-reconciler-type=none",
        ])
        while not self._get_ok("/readyz"):
            self._check_alive(deadline, "kube-apiserver")
            time.sleep(0.25)

    def _start_controllers(self) -> None:
        kubeconfig = str(self.kubeconfig)
        common = [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
                  f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--leader-elect=false"]
        self.spawn("kube-controller-manager", [
            self.tool("kube-controller-manager"), *common, f"--secure-port={self.ports['controller-manager']}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki / 'sa.key'}", f"--root-ca-file={self.pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={self.pki / 'ca.crt'}", f"--cluster-signing-key-file={self.pki / 'ca.key'}",
        ])
        self.spawn("kube-scheduler", [
            self.tool("kube-scheduler"), *common, f"--secure-port={self.ports['scheduler']}",
        ])

    def _start_kwok(self) -> None:
        stages = sorted((self.share / "kwok").glob("*.yaml"))
        stages = [s for s in stages if s.name != "storage-class.yaml"]
        if not stages:
            raise ClusterError(f"kwok's stages are missing from {self.share / 'kwok'}: run make setup")
        configs = [f"--config={path}" for path in [*stages, STAGES]]
        port = self.ports["kwok"]
        self.spawn("kwok", [
            self.tool("kwok"), *configs, f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            # Without a lease this long the node flaps NotReady under load.
            "--node-lease-duration-seconds=40",
            # The node's address (where the API server would fetch logs) is kwok's own loopback server.
            "--node-ip=127.0.0.1", f"--node-port={port}", f"--server-address=127.0.0.1:{port}",
        ])
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": KWOK_NODE, "annotations": {KWOK_ANNOTATION: "fake"},
                         "labels": {"kubernetes.io/hostname": KWOK_NODE, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "type": "kwok"}},
            "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "250"},
                       "capacity": {"cpu": "32", "memory": "256Gi", "pods": "250"}},
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(node))
        self.kubectl("apply", "-f", str(self.share / "kwok" / "storage-class.yaml"))

    def _wait_ready(self, deadline: float) -> None:
        """Ready: the node is Ready and the controllers run (the default namespace has its ServiceAccount)."""
        while True:
            node = self.kubectl("get", "node", KWOK_NODE, "-o", "json", check=False)
            account = self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
            if node.returncode == 0 and account.returncode == 0:
                conditions = json.loads(node.stdout).get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return
            for name in CONTROL_PLANE:
                self._check_alive(deadline, name)
            time.sleep(0.25)

    def _start_real_node(self) -> None:
        try:
            from devtools import realnode
        except ImportError as exc:
            raise ClusterError("REAL=1 needs devtools/realnode.py (the real kubelet node, issue 17)") from exc
        realnode.start(self)

    def _check_alive(self, deadline: float, name: str) -> None:
        proc = next(p for p in self.state["processes"] if p["name"] == name)
        if not self._alive(proc):
            raise ClusterError(f"{name} exited during start-up\n{self._log_tail(name)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster was not ready in time (waiting on {name})\n{self._log_tail(name)}")

    def _get_ok(self, path: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"{' '.join(argv[:3])}... failed: {proc.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="data directory (default .data/cluster)")
    parser.add_argument("--real", action="store_true", help="add a real kubelet node (issue 17)")
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir)
    if args.command == "down":
        cluster.down()
        print(f"cluster at {cluster.root} stopped and removed")
        return 0
    if args.command == "status":
        if not cluster.running():
            print(f"no cluster running at {cluster.root}")
            return 1
    else:
        was_running = cluster.running()
        try:
            cluster.up(real=args.real)
        except ClusterError as exc:
            print(f"cluster-up failed: {exc}", file=sys.stderr)
            return 1
        if not was_running:
            print(f"cluster up in {cluster.state['up_seconds']} s")
    print(f"Kubernetes {K8S_VERSION} at {cluster.server} (node {KWOK_NODE}, simulated by kwok)")
    print(f"  export KUBECONFIG={cluster.kubeconfig}")
    print(f"  logs: {cluster.logs}   stop: make cluster-down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
