"""Run model-written Python against a test inside a bubblewrap sandbox, and read back a verdict it cannot forge.

    from stagewise.evaluate.sandbox import run_tests
    run = run_tests("def add(a, b):\n    return a + b\n", "def check(candidate):\n    assert candidate(1, 2) == 3\n", "add")
    run.passed, run.status   # True, "passed"

Isolation (STACK.md measured these flags as root): a root of read-only binds of /usr (and the interpreter),
the task folder read-only at /task, a size-capped tmpfs at /app (the only writable place, plus a capped /tmp),
every namespace unshared (no network: only an empty loopback), no environment (`--clearenv`), the process
tree killed with its parent. As root we also drop to a fresh unprivileged uid per run, so RLIMIT_NPROC
applies (the kernel ignores it for root) and no sandbox can signal another. CPU time, address space,
processes, file size and open files are capped with `prlimit`; a wall-clock timeout kills the process group.

Inside, harness.py (trusted) runs the test and calls the candidate, which candidate_server.py hosts in a
second process; the verdict is HMAC-signed with a nonce only the harness holds. Without bubblewrap we refuse
to run untrusted code (a `StagewiseError` saying how to install it); there is no unsandboxed fallback.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stagewise.core.errors import StagewiseError

HERE = Path(__file__).parent
INSTALL_HINT = ("install bubblewrap to run model-written code (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
                "Fedora: `sudo dnf install bubblewrap`); stagewise never runs it unsandboxed")
# Where a dropped-privilege run's uid comes from: far above any real account, one fresh uid per run.
_UID_BASE, _UID_SPAN = 3_000_000, 1_000_000


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 10  # RLIMIT_CPU per process
    memory_mb: int = 512  # RLIMIT_AS per process
    processes: int = 16  # RLIMIT_NPROC for the run's uid (bwrap itself takes 2-3)
    file_size_mb: int = 4  # RLIMIT_FSIZE: any one file written, output included
    open_files: int = 64
    scratch_mb: int = 16  # size of the writable tmpfs /app and /tmp each
    wall_s: float = 30.0  # whole run, then the process group is killed
    call_timeout_s: float = 5.0  # one call of the candidate
    output_bytes: int = 8192  # the candidate's stdout/stderr kept in the result


@dataclass(frozen=True)
class TestRun:
    """The outcome of one sandboxed test run.

    status: passed | failed (a test assertion or error) | load_error (the code did not define the entry
    point) | timeout | crashed (the candidate process died) | killed (the whole run hit the wall clock) |
    no_verdict (the harness printed nothing valid: its result was missing or forged).
    """

    passed: bool
    status: str
    detail: str = ""
    calls: int = 0
    output: str = ""
    wall_s: float = 0.0

    def to_json(self) -> dict:
        return {"passed": self.passed, "status": self.status, "detail": self.detail, "calls": self.calls,
                "output": self.output, "wall_s": round(self.wall_s, 3)}


def run_tests(solution: str, test: str, entry_point: str, limits: SandboxLimits | None = None) -> TestRun:
    """Run `test` (a `check(candidate)` function or top-level asserts on `candidate`) against the function
    `entry_point` that `solution` defines, in a fresh sandbox. Never raises for anything the code does."""
    limits = limits or SandboxLimits()
    bwrap = require_bubblewrap()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stagewise-sandbox-") as tmp:
        task_dir = Path(tmp) / "task"
        task_dir.mkdir()
        for name in ("harness.py", "candidate_server.py"):
            shutil.copyfile(HERE / name, task_dir / name)  # a copy: the installed package is never exposed
        (task_dir / "solution.py").write_text(solution, encoding="utf-8")
        for p in [Path(tmp), task_dir, *task_dir.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)  # readable by the dropped uid, writable by nobody inside
        nonce = secrets.token_hex(32)
        task = {"test": test, "entry_point": entry_point, "solution_path": "/task/solution.py",
                "output_path": "/app/output.txt", "call_timeout_s": limits.call_timeout_s,
                "load_timeout_s": limits.call_timeout_s, "output_bytes": limits.output_bytes}
        cmd = _command(bwrap, task_dir, limits)
        verdict_path, err_path = Path(tmp) / "verdict.txt", Path(tmp) / "stderr.txt"
        with open(verdict_path, "wb") as out, open(err_path, "wb") as err:
            status = _launch(cmd, f"{nonce}\n{json.dumps(task)}\n".encode(), out, err, limits)
        text = verdict_path.read_bytes()[: 1 << 20].decode("utf-8", "replace")
        stderr = err_path.read_bytes()[:2000].decode("utf-8", "replace")
    wall = time.monotonic() - start
    if status == "killed":
        return TestRun(False, "killed", f"wall-clock limit {limits.wall_s:g}s", wall_s=wall)
    verdict = _verified(text, nonce)
    if verdict is None:
        return TestRun(False, "no_verdict", (stderr.strip().splitlines() or ["harness gave no signed verdict"])[-1][:300],
                       wall_s=wall)
    return TestRun(bool(verdict.get("passed")), str(verdict.get("status")), str(verdict.get("detail", "")),
                   int(verdict.get("calls", 0)), str(verdict.get("output", ""))[: limits.output_bytes], wall)


def _verified(text: str, nonce: str) -> dict | None:
    """The harness's last VERDICT line, if its HMAC checks out (anything else could be the candidate's)."""
    for line in reversed(text.splitlines()):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "VERDICT":
            want = hmac.new(nonce.encode(), parts[2].encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(want, parts[1]):
                try:
                    return json.loads(parts[2])
                except json.JSONDecodeError:
                    return None
            return None
    return None


def _launch(cmd: list[str], stdin: bytes, out, err, limits: SandboxLimits) -> str:
    drop = os.geteuid() == 0
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if drop else None
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=out, stderr=err, close_fds=True, env=_launch_env(),
        start_new_session=True, user=uid, group=uid, extra_groups=[] if drop else None,
    )
    try:
        proc.communicate(stdin, timeout=limits.wall_s)
        return "done"
    except subprocess.TimeoutExpired:
        return "killed"
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap's --die-with-parent then takes the tree inside
            except ProcessLookupError:
                pass
            proc.wait()


def _launch_env() -> dict[str, str]:
    # bwrap --clearenv empties the sandbox's environment; this only keeps secrets out of bwrap/prlimit too.
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _command(bwrap: str, task_dir: Path, limits: SandboxLimits) -> list[str]:
    python, prefix = _interpreter()
    mb = 1 << 20
    # RLIMIT_NPROC counts every process of the uid: as root we run under a fresh uid (zero processes);
    # otherwise the user's own processes count too, so the cap is theirs plus the sandbox's allowance.
    nproc = limits.processes if os.geteuid() == 0 else _processes_of(os.getuid()) + limits.processes
    cmd = [
        shutil.which("prlimit") or "prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_mb * mb}",
        f"--nproc={nproc}",
        f"--fsize={limits.file_size_mb * mb}", f"--nofile={limits.open_files}", "--core=0", "--",
        bwrap, "--ro-bind", "/usr", "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):  # merged-/usr systems symlink these
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    if prefix is not None:
        cmd += ["--ro-bind", prefix, prefix]
    cmd += [
        "--ro-bind", str(task_dir), "/task",
        "--size", str(limits.scratch_mb * mb), "--tmpfs", "/app",
        "--size", str(limits.scratch_mb * mb), "--tmpfs", "/tmp",
        "--dev", "/dev", "--size", str(limits.scratch_mb * mb), "--tmpfs", "/dev/shm", "--proc", "/proc",
        "--remount-ro", "/dev", "--remount-ro", "/",  # bwrap's tmpfs roots: otherwise writable, unbounded
        "--chdir", "/app",
        "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/app", "--setenv", "PYTHONHASHSEED", "0",
        "--setenv", "LANG", "C.UTF-8",
        python, "-I", "-S", "-B", "/task/harness.py",
    ]
    return cmd


def _processes_of(uid: int) -> int:
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid == uid
            except OSError:
                pass
    return n


@functools.lru_cache(maxsize=1)
def _interpreter() -> tuple[str, str | None]:
    """The Python that runs inside (stdlib only), and a folder to bind for it when it lives outside /usr.

    The system Python under /usr is preferred: the project's own interpreter may sit in a home folder that
    the dropped uid cannot enter (pyenv under /root)."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(cand):
            return cand, None if cand.startswith("/usr/bin") else "/usr/local"
    import sys

    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return base, sys.base_prefix


@functools.lru_cache(maxsize=1)
def require_bubblewrap() -> str:
    """bwrap's path, after checking a trivial sandbox starts; a `StagewiseError` otherwise."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or shutil.which("prlimit") is None:
        missing = "bwrap" if bwrap is None else "prlimit (util-linux)"
        raise StagewiseError(f"sandbox: {missing} not found; {INSTALL_HINT}")
    probe = run_probe(bwrap)
    if probe:
        raise StagewiseError(f"sandbox: bubblewrap cannot start a sandbox here ({probe}); {INSTALL_HINT}, "
                             "and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)")
    return bwrap


def run_probe(bwrap: str) -> str:
    """'' when `python -c pass` runs in the sandbox this module builds, else bwrap's complaint."""
    with tempfile.TemporaryDirectory(prefix="stagewise-sandbox-probe-") as tmp:
        Path(tmp).chmod(0o755)
        cmd = _command(bwrap, Path(tmp), SandboxLimits())[:-5] + [_interpreter()[0], "-I", "-S", "-c", "pass"]
        drop = os.geteuid() == 0
        uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if drop else None
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=60, env=_launch_env(), user=uid, group=uid,
                               extra_groups=[] if drop else None)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
    return "" if r.returncode == 0 else (r.stderr.decode("utf-8", "replace").strip() or f"exit {r.returncode}")
