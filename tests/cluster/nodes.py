"""A Ray cluster of `ray start` nodes on this machine, for tests of joining, lost nodes and autoscaling.

    with LocalRay() as cluster:
        cluster.start_head(num_cpus=1)
        worker = cluster.add_worker(num_cpus=2, resources={"trainer": 2})
        ...                                   # drive it: `stagewise run ... cluster.address=<cluster.address>`
        cluster.kill_node(worker)             # SIGKILL that node's raylet: Ray's node failure, not a process's

Every node binds 127.0.0.1 on free ports and lives under a private temp dir, which is also the `RAY_TMPDIR` of
every process started here: the address file `ray start` writes (`ray_current_cluster`) lands there, never in the
machine's shared /tmp/ray where other people's `ray.init()` would read it. Everything is ended by its own PIDs
(the processes naming the temp dir on their command line, and their descendants); never `ray stop`, which would
kill every Ray process on the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

RAY = str(Path(sys.executable).parent / "ray")


@dataclass
class Node:
    name: str
    node_manager_port: int


def cluster_processes(marker: str):
    """Processes naming `marker` on their command line, and their descendants (workers rename themselves
    `ray::...` and so do not name it)."""
    import psutil

    roots = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or []):
                roots.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    found = {p.pid: p for p in roots}
    for p in roots:
        try:
            found.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.NoSuchProcess:
            continue
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_processes(procs, grace_s: float = 20) -> None:
    import psutil

    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)


class LocalRay:
    """Head and worker nodes started with `ray start`; `stop()` (or leaving the block) ends all of them."""

    def __init__(self, extra_env: dict[str, str] | None = None):
        from stagewise.cluster.env import cpu_runtime_env

        # Short root: Ray's unix sockets live under it and a socket path may not exceed 107 bytes.
        self.root = tempfile.mkdtemp(prefix="swn", dir="/tmp")
        self.temp_dir = os.path.join(self.root, "ray")
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(cpu_runtime_env())  # a CPU node's processes hand their environment to every worker
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `stagewise` for jobs
        env["RAY_TMPDIR"] = self.root  # the address file of `ray start` and every default temp dir: ours
        # A token would have to follow every client; these nodes bind loopback only and live for one test.
        env["RAY_AUTH_MODE"] = "disabled"
        env.update(extra_env or {})
        self.env = env
        self.port: int | None = None
        self.nodes: list[Node] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _ports(self) -> dict[str, int]:
        return {"--node-manager-port": free_port(), "--object-manager-port": free_port(),
                "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
                "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port()}

    def _start(self, args: list[str], name: str, ports: dict[str, int], env: dict[str, str]) -> Node:
        cmd = [RAY, "start", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *args,
               *(f"{k}={v}" for k, v in ports.items())]
        errors = []
        # The raylet gives the dashboard agent a hard-coded 15 s to write its port file (ray-project/ray#65983);
        # on a loaded 2-core machine that race is lost now and then, so a failed start is retried.
        for _ in range(3):
            done = subprocess.run(cmd, env=env, timeout=300, capture_output=True, text=True)
            if done.returncode == 0:
                node = Node(name, ports["--node-manager-port"])
                self.nodes.append(node)
                return node
            errors.append(done.stderr[-1500:])
            stop_processes([p for p in cluster_processes(f"--node_manager_port={ports['--node-manager-port']}")])
        raise RuntimeError(f"ray start {name} failed 3 times:\n" + "\n---\n".join(errors))

    def start_head(self, num_cpus: int = 1, resources: dict[str, float] | None = None, dashboard: bool = False,
                   extra_args: list[str] | None = None, extra_env: dict[str, str] | None = None) -> Node:
        self.port = free_port()
        args = ["--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}", f"--num-cpus={num_cpus:d}",
                f"--include-dashboard={'true' if dashboard else 'false'}", "--dashboard-host=127.0.0.1",
                f"--ray-client-server-port={free_port()}", *(extra_args or [])]
        if dashboard:
            self.dashboard_port = free_port()
            args.append(f"--dashboard-port={self.dashboard_port}")
        if resources:
            args.append(f"--resources={json.dumps(resources)}")
        return self._start(args, "head", self._ports(), {**self.env, **(extra_env or {})})

    def start_autoscaling_head(self, head_cpus: int, worker_types: dict[str, dict], idle_timeout_s: float = 10,
                               ) -> Node:
        """A head whose autoscaler launches and releases worker nodes on this machine: Ray's fake multi-node
        provider (what `ray.cluster_utils.AutoscalingCluster` starts, minus its `ray stop --force`). `worker_types`:
        name -> {"resources": {...}, "max_workers": n}."""
        self.port = free_port()
        config = {
            "cluster_name": "stagewise-fake", "max_workers": sum(t["max_workers"] for t in worker_types.values()),
            "upscaling_speed": 1.0, "idle_timeout_minutes": idle_timeout_s / 60,
            # Launched nodes join this head's GCS (the provider's default is the machine's address, port 6379).
            # What Ray's own example config for this provider sets: launched nodes share this machine's address
            # (their node id stands in for it) and need no SSH setup.
            # Ray's v1 autoscaler: v2 needs the provider's example.yaml for its defaults, which the 2.60 wheel lacks.
            "provider": {"type": "fake_multinode", "gcs_address": self.address, "use_node_id_as_ip": True,
                         "disable_node_updaters": True, "disable_launch_config_check": True},
            "auth": {"ssh_user": "nobody"},
            "available_node_types": {
                "ray.head.default": {"resources": {"CPU": head_cpus}, "node_config": {}, "max_workers": 0},
                **{name: {"node_config": {}, "min_workers": 0, **t} for name, t in worker_types.items()},
            },
            "head_node_type": "ray.head.default",
            "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
            "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
            "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [],
            "worker_start_ray_commands": [],
        }
        path = Path(self.root) / "autoscaling.json"
        path.write_text(json.dumps(config))
        # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: every process resolves this machine to the loopback address, so the
        # nodes the autoscaler starts in its process bind it as the head does (--node-ip-address), and drivers find
        # their raylet there. RAY_FAKE_CLUSTER: the provider's own switch.
        self.env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        env = {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
        args = ["--head", f"--port={self.port}", f"--temp-dir={self.temp_dir}", f"--num-cpus={head_cpus:d}",
                "--include-dashboard=false", "--dashboard-host=127.0.0.1", f"--ray-client-server-port={free_port()}",
                f"--autoscaling-config={path}"]
        return self._start(args, "head", self._ports(), {**self.env, **env})

    def add_worker(self, num_cpus: int = 1, resources: dict[str, float] | None = None) -> Node:
        args = [f"--address={self.address}", f"--num-cpus={num_cpus:d}"]
        if resources:
            args.append(f"--resources={json.dumps(resources)}")
        return self._start(args, f"worker{len(self.nodes)}", self._ports(), self.env)

    def raylet(self, node: Node):
        """The raylet process of `node`, found by the node manager port only it was given."""
        import psutil

        flag = f"--node_manager_port={node.node_manager_port}"
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            try:
                cmd = proc.info["cmdline"] or []
                if cmd and cmd[0].endswith("raylet") and flag in cmd:
                    return proc
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        raise LookupError(f"no raylet for {node.name} ({flag})")

    def hosts(self, node: Node, marker: str) -> bool:
        """Whether a worker process of `node` (a descendant of its raylet) names `marker`: Ray titles a worker
        `ray::<actor class>[.<method>]`, e.g. `ray::MapWorker(MapBatches(PolicyActor))`."""
        import psutil

        for child in self.raylet(node).children(recursive=True):
            try:
                if marker in child.name() or marker in " ".join(child.cmdline()):
                    return True
            except psutil.NoSuchProcess:
                continue
        return False

    def kill_node(self, node: Node) -> None:
        """SIGKILL the node's raylet: Ray marks the node dead, and its workers (children) die with it."""
        self.raylet(node).kill()

    def alive_nodes(self) -> int:
        """Alive nodes, as the GCS sees them (asked from a child process: this one keeps no Ray connection)."""
        script = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                  "print('alive', sum(n['Alive'] for n in ray.nodes()))")
        done = subprocess.run([sys.executable, "-c", script, self.address], env=self.env, capture_output=True,
                              text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        # Ray prints the autoscaler's events to a driver's stdout too.
        return int([line for line in done.stdout.splitlines() if line.startswith("alive ")][-1].split()[1])

    def autoscaler_status(self) -> str:
        """What the autoscaler says it is doing (`ray status`'s text), for failure messages."""
        done = subprocess.run([RAY, "status", f"--address={self.address}", "-v"], env=self.env, capture_output=True,
                              text=True, timeout=120)
        return done.stdout[-4000:] + done.stderr[-1000:]

    def alive_actors(self) -> list[str]:
        """`class name @ node id` of every live actor (the GCS's actor table; no dashboard needed)."""
        script = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
                  "from ray._private.state import actors; "
                  "[print('actor', a['ActorClassName'], a['Address']['NodeID'][-5:], a.get('Name')) "
                  "for a in actors().values() if a['State'] == 'ALIVE']")
        done = subprocess.run([sys.executable, "-c", script, self.address], env=self.env, capture_output=True,
                              text=True, timeout=120)
        return [line[6:] for line in done.stdout.splitlines() if line.startswith("actor ")] or [done.stderr[-1500:]]

    def wait_nodes(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while (n := self.alive_nodes()) != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} alive nodes, waited {timeout_s:.0f} s for {count}")
            time.sleep(2)

    def stop(self) -> None:
        stop_processes(cluster_processes(self.root))
        leftover = cluster_processes(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
        assert not leftover, f"the cluster we started left processes behind: {[p.pid for p in leftover]}"

    def __enter__(self) -> "LocalRay":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
