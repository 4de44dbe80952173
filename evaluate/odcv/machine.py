"""An ODCV scenario's machine: its Dockerfile replayed into a per-episode folder, each command a bubblewrap sandbox.

    from stagewise.evaluate.odcv.machine import open_machine
    from stagewise.evaluate.odcv.scenarios import read_scenarios
    scenario = read_scenarios()[0]
    with open_machine(scenario) as m:
        print(m.run("ls -la /app /usr/local/bin && cat /etc/hostname").to_tool_output())
        print(m.changed_files())

The machine's root file system is a host temp folder laid out by replaying the Dockerfile's WORKDIR, COPY and
RUN mkdir/chmod/mv/cp/rm/touch lines (apt-get and pip lines install nothing: `Scenario.needs` has already
checked the host provides what they name). The host's /usr is bound read-only underneath (bash, jq, bc,
python3), the scenario's own /usr/local over it. Each `run()` is one bubblewrap process running `bash -c` in
WORKDIR; state persists between runs only through files, as in a container whose shell is restarted per
command. Isolation (as evaluate/sandbox/bubblewrap.py, STACK.md): every namespace unshared (no network, an
empty loopback only), no environment, the process tree dies with its parent, CPU/memory/process/file-size
limits via prlimit, a wall-clock kill. Inside, the agent is uid 0 of its own user namespace with no
capabilities: it owns what the Dockerfile left writable (files it may, and may be tempted to, edit) and
cannot change what the Dockerfile made read-only (`chmod -R 555 /usr/local/bin`): those stay owned by the host
and their folders are bound read-only, so not even chmod works on them.
"""
from __future__ import annotations

import glob
import hashlib
import os
import posixpath
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.odcv.dockerfile import Instruction, Step, read_step
from stagewise.evaluate.odcv.scenarios import Scenario, copy_sources
from stagewise.evaluate.sandbox.bubblewrap import _processes_of  # one count of a uid's processes (RLIMIT_NPROC)

# One fresh uid per machine, far above real accounts and apart from the reward-hacking sandbox's range.
_UID_BASE, _UID_SPAN = 4_000_000, 1_000_000
_MB = 1 << 20
MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host top-level folders the machine borrows read-only (merged-/usr hosts have symlinks there instead).
_HOST_TOPS = ("bin", "sbin", "lib", "lib64", "lib32")
# Paths of the layout that are mount points or the host's, never the scenario's files.
_SKELETON = {"usr", "proc", "dev", *_HOST_TOPS}


@dataclass(frozen=True)
class MachineLimits:
    cpu_s: int = 30  # RLIMIT_CPU per process of one command
    memory_mb: int = 2048  # RLIMIT_AS per process
    processes: int = 64  # RLIMIT_NPROC for the machine's uid (bwrap takes 2-3)
    file_size_mb: int = 64  # RLIMIT_FSIZE: any one file written, the command's output included
    open_files: int = 256
    wall_s: float = 60.0  # one command, then its process group is killed
    output_bytes: int = 16384  # stdout and stderr each, as the agent sees them (head and tail kept)
    content_bytes: int = 8192  # text of one changed file in changed_files()
    changed_files: int = 1000  # entries listed by changed_files(); one "omitted" entry counts the rest


@dataclass(frozen=True)
class CommandResult:
    stdout: str
    stderr: str
    exit_code: int
    truncated: bool
    wall_s: float

    def to_tool_output(self) -> str:
        """What the agent sees: stdout, stderr (labelled), the exit code, a marker when output was cut."""
        parts = []
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append("[stderr]\n" + self.stderr.rstrip("\n"))
        parts.append(f"[exit code: {self.exit_code}]" + (" [output truncated]" if self.truncated else ""))
        return "\n".join(parts)


class Machine:
    """A scenario's machine for one episode: a context manager; files persist across `run()` calls."""

    def __init__(self, scenario: Scenario, limits: MachineLimits | None = None):
        from stagewise.evaluate.sandbox.bubblewrap import require_bubblewrap

        if scenario.needs:
            raise StagewiseError(f"{scenario.folder}: cannot run on the local sandbox: needs "
                                 + "; ".join(scenario.needs))
        self.scenario, self.limits = scenario, limits or MachineLimits()
        bwrap = require_bubblewrap()
        self._tmp = Path(tempfile.mkdtemp(prefix="stagewise-odcv-"))
        try:
            os.chmod(self._tmp, 0o711)  # the dropped uid must traverse to its root, never list its siblings
            self.root = self._tmp / "root"
            self.workdir = lay_out(scenario, self.root)
            self._uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if os.geteuid() == 0 else None
            if self._uid is not None:
                _hand_over(self.root, self._uid)
            self._initial = _snapshot(self.root)
            self._cmd = self._command(bwrap)
        except BaseException:
            _remove(self._tmp)
            raise

    def __enter__(self) -> "Machine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, command: str) -> CommandResult:
        """Run `command` with bash in the machine's WORKDIR; never raises for anything the command does."""
        if not self._tmp.exists():
            raise StagewiseError(f"{self.scenario.folder}: machine already closed")
        limits = self.limits
        out_path, err_path = self._tmp / "stdout", self._tmp / "stderr"
        start = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [*self._cmd, command], stdin=subprocess.DEVNULL, stdout=out, stderr=err, close_fds=True,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True,
                user=self._uid, group=self._uid, extra_groups=[] if self._uid is not None else None,
            )
            killed = False
            try:
                code = proc.wait(timeout=limits.wall_s)
            except subprocess.TimeoutExpired:
                killed = True
                code = 124  # what coreutils' timeout says
            finally:
                if proc.poll() is None:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # bwrap --die-with-parent takes the tree inside
                    except ProcessLookupError:
                        pass
                    proc.wait()
        wall = time.monotonic() - start
        stdout, cut_out = _read_capped(out_path, limits.output_bytes)
        stderr, cut_err = _read_capped(err_path, limits.output_bytes)
        if killed:
            stderr += f"\n[killed: the command ran past the {limits.wall_s:g} s limit]"
        elif code < 0:
            code = 128 - code  # killed by a signal (e.g. SIGXCPU, SIGXFSZ), as bash reports it
        return CommandResult(stdout, stderr, code, cut_out or cut_err, wall)

    def changed_files(self) -> list[dict]:
        """Files (and symlinks) added, modified (content or mode) or deleted since the machine was laid out.

        [{"path": "/app/data/x.csv", "change": "added"|"modified"|"deleted", "content": text or None}],
        sorted by path; content is the file's text capped at `content_bytes` (None for deleted or binary
        files; "symlink -> target" for a link). Beyond `limits.changed_files` entries, one last entry
        {"path": "...", "change": "omitted", "content": "<n> more changes"} counts the rest.
        Links are never followed: an agent's symlink to a host path must not make us read the host."""
        now = _snapshot(self.root)
        out = []
        for rel in sorted(set(now) | set(self._initial)):
            before, after = self._initial.get(rel), now.get(rel)
            if before == after:
                continue
            change = "added" if before is None else "deleted" if after is None else "modified"
            content = None if after is None else _content(self.root / rel, after, self.limits.content_bytes)
            out.append({"path": "/" + rel, "change": change, "content": content})
        cap = self.limits.changed_files
        if len(out) > cap:
            out = out[:cap] + [{"path": "...", "change": "omitted", "content": f"{len(out) - cap} more changes"}]
        return out

    def close(self) -> None:
        _remove(self._tmp)

    def _command(self, bwrap: str) -> list[str]:
        limits = self.limits
        nproc = limits.processes if self._uid is not None else _processes_of(os.getuid()) + limits.processes
        cmd = [shutil.which("prlimit") or "prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_mb * _MB}",
               f"--nproc={nproc}", f"--fsize={limits.file_size_mb * _MB}", f"--nofile={limits.open_files}",
               "--core=0", "--",
               bwrap, "--bind", str(self.root), "/", "--ro-bind", "/usr", "/usr",
               "--bind", str(self.root / "usr/local"), "/usr/local"]
        for top in _HOST_TOPS:
            if os.path.isdir("/" + top) and not os.path.islink("/" + top):
                cmd += ["--ro-bind", "/" + top, "/" + top]
        for rel in _read_only_dirs(self.root):
            cmd += ["--ro-bind", str(self.root / rel), "/" + rel]
        cmd += ["--dev", "/dev", "--proc", "/proc", "--chdir", self.workdir,
                "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                "--uid", "0", "--gid", "0", "--hostname", "odcv",
                "--setenv", "PATH", MACHINE_PATH, "--setenv", "HOME", "/root", "--setenv", "LANG", "C.UTF-8",
                "--setenv", "PYTHONDONTWRITEBYTECODE", "1",  # no __pycache__ posing as the agent's changes
                "/usr/bin/bash" if os.path.exists("/usr/bin/bash") else "/bin/bash", "-c"]
        return cmd


def open_machine(scenario: Scenario, limits: MachineLimits | None = None) -> Machine:
    """A fresh machine laid out from the scenario's Dockerfile; StagewiseError naming what is missing if not runnable."""
    return Machine(scenario, limits)


# ---- laying out the root file system from the Dockerfile ---------------------------------------------------

def lay_out(scenario: Scenario, root: Path) -> str:
    """Replay the scenario's Dockerfile into `root` (an empty or absent folder); the WORKDIR at the end."""
    _skeleton(root)
    dockerfile = scenario.folder / "Dockerfile"
    workdir = "/"
    for ins in scenario.instructions:
        where = f"{dockerfile}: line {ins.line}"
        if ins.keyword == "FROM" and ins is not scenario.instructions[0] and not ins.joined:
            shutil.rmtree(root)  # a new build stage: Docker's final image is the last stage alone
            _skeleton(root)
            workdir = "/"
        elif ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args[0]))
            _host(root, workdir, where).mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY":
            _copy(root, workdir, scenario.folder, ins, where)
        elif ins.keyword == "RUN":
            for argv in ins.steps:
                step = read_step(argv)
                if step is None:  # Scenario.needs refused these already; a Scenario built by hand may not
                    raise StagewiseError(f"{where}: cannot replay RUN {' '.join(argv)[:80]}")
                _replay(root, workdir, step, where)
    return workdir


def _skeleton(root: Path) -> None:
    """What a slim Debian image has before the Dockerfile runs: mount points, /etc's basics, /root, /tmp."""
    for d in ("usr/local/bin", "usr/local/sbin", "usr/local/lib", "proc", "dev", "etc", "root", "tmp", "var/tmp",
              "opt", "home"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "var/tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    for top in _HOST_TOPS:
        host = "/" + top
        if os.path.islink(host):
            os.symlink(os.readlink(host), root / top)
        elif os.path.isdir(host):
            (root / top).mkdir()
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "etc/hostname").write_text("odcv\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost odcv\n")


def _host(root: Path, machine_path: str, where: str) -> Path:
    """The host path of a machine path; only the scenario's own part of the tree (not the host's /usr)."""
    norm = posixpath.normpath("/" + machine_path)
    rel = norm.lstrip("/")
    top = rel.split("/", 1)[0]
    if top in ("proc", "dev", *_HOST_TOPS) or (top == "usr" and not (rel == "usr/local" or rel.startswith("usr/local/"))):
        raise StagewiseError(f"{where}: {machine_path} is outside what the local machine lays out "
                             "(the host's /usr and /proc, /dev are not the scenario's)")
    return root / rel if rel else root


def _expand(root: Path, workdir: str, operand: str, where: str) -> list[Path]:
    """A RUN operand as bash would expand it (globs; no match: the literal word)."""
    machine = posixpath.join(workdir, operand)
    path = _host(root, machine, where)
    if glob.has_magic(operand):
        hits = sorted(Path(p) for p in glob.glob(str(path)))
        return hits or [path]
    return [path]


def _copy(root: Path, workdir: str, folder: Path, ins: Instruction, where: str) -> None:
    dest_text = ins.args[-1]
    dest = _host(root, posixpath.join(workdir, dest_text), where)
    sources = [(src, hits) for src, hits in copy_sources(folder, ins) if hits]  # absent: `missing` says so
    into_dir = dest_text.endswith("/") or len(ins.args) > 2 or dest.is_dir() or any(len(h) > 1 for _, h in sources)
    mode = next((f.split("=", 1)[1] for f in ins.flags if f.startswith("--chmod=")), None)
    for _, hits in sources:
        for hit in hits:
            if hit.is_dir() and not hit.is_symlink():
                dest.mkdir(parents=True, exist_ok=True)  # Docker copies a folder's contents, not the folder
                shutil.copytree(hit, dest, symlinks=True, dirs_exist_ok=True)
                targets = [dest / p.relative_to(hit) for p in hit.rglob("*")]
            else:
                target = dest / hit.name if into_dir else dest
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(hit, target, follow_symlinks=False)
                targets = [target]
            if mode:
                for t in targets:
                    _chmod(t, mode, where)


def _replay(root: Path, workdir: str, step: Step, where: str) -> None:
    if step.op in ("noop", "apt", "pip"):
        return  # nothing to lay out: Scenario.needs checked the host provides what they name
    if step.op == "mkdir":
        for a in step.args:
            _host(root, posixpath.join(workdir, a), where).mkdir(parents=True, exist_ok=True)
    elif step.op == "touch":
        for a in step.args:
            p = _host(root, posixpath.join(workdir, a), where)
            p.touch()
    elif step.op == "chmod":
        for a in step.args:
            for p in _expand(root, workdir, a, where):
                if not p.exists():
                    raise StagewiseError(f"{where}: chmod: {a}: no such file in the machine")
                for q in ([p, *p.rglob("*")] if step.recursive and p.is_dir() else [p]):
                    if not q.is_symlink():
                        _chmod(q, step.mode, where)
    elif step.op == "rm":
        for a in step.args:
            for p in _expand(root, workdir, a, where):
                if p.is_dir() and not p.is_symlink():
                    if not step.recursive:
                        raise StagewiseError(f"{where}: rm: {a} is a folder (no -r)")
                    shutil.rmtree(p)
                elif p.exists() or p.is_symlink():
                    p.unlink()
    elif step.op in ("mv", "cp"):
        *srcs, dest_text = step.args
        dest = _host(root, posixpath.join(workdir, dest_text), where)
        found = [p for a in srcs for p in _expand(root, workdir, a, where)]
        for p in found:
            if not (p.exists() or p.is_symlink()):
                raise StagewiseError(f"{where}: {step.op}: {p.relative_to(root)}: no such file in the machine")
            target = dest / p.name if dest.is_dir() else dest
            if step.op == "mv":
                shutil.move(str(p), str(target))
            elif p.is_dir() and not p.is_symlink():
                if not step.recursive:
                    raise StagewiseError(f"{where}: cp: {p.relative_to(root)} is a folder (no -r)")
                shutil.copytree(p, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(p, target, follow_symlinks=False)


_SYMBOLIC = re.compile(r"^([ugoa]*)([+\-=])([rwxX]*)$")


def _chmod(path: Path, mode: str, where: str) -> None:
    if re.fullmatch(r"[0-7]{1,4}", mode):
        os.chmod(path, int(mode, 8))
        return
    current = stat.S_IMODE(path.stat().st_mode)
    for clause in mode.split(","):
        m = _SYMBOLIC.match(clause)
        if m is None:
            raise StagewiseError(f"{where}: chmod mode {mode!r} not understood")
        who, op, perms = m.groups()
        who = who or "a"  # `+x` applies to all (the umask does not matter for the published forms)
        bits = 0
        for w in ("u", "g", "o"):
            if w in who or "a" in who:
                shift = {"u": 6, "g": 3, "o": 0}[w]
                for p, v in (("r", 4), ("w", 2), ("x", 1)):
                    if p in perms or (p == "x" and "X" in perms and (path.is_dir() or current & 0o111)):
                        bits |= v << shift
        mask = sum(7 << {"u": 6, "g": 3, "o": 0}[w] for w in "ugo" if w in who or "a" in who)
        current = current | bits if op == "+" else current & ~bits if op == "-" else (current & ~mask) | bits
    os.chmod(path, current)


def _hand_over(root: Path, uid: int) -> None:
    """Give the machine's uid what the Dockerfile left writable (Docker's root may edit those); what it made
    read-only stays the host's, so the agent cannot chmod it back."""
    os.lchown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in _SKELETON or d == "usr"]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel == "usr" or rel in _HOST_TOPS:
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode) or st.st_mode & stat.S_IWUSR:
                os.lchown(p, uid, uid)


def _read_only_dirs(root: Path) -> list[str]:
    """The top-most folders of the layout whose whole tree has no write bit: bound read-only in the machine."""
    out = []

    def writable(p: str) -> bool:
        st = os.lstat(p)
        return not stat.S_ISLNK(st.st_mode) and bool(st.st_mode & 0o222)

    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in _SKELETON or d == "usr"]
            continue
        if rel_dir == "usr":
            dirnames[:] = [d for d in dirnames if d == "local"]
            continue
        if rel_dir not in ("usr/local",) and not writable(dirpath) and not any(
                writable(os.path.join(d, n)) for d, ds, fs in os.walk(dirpath) for n in ds + fs):
            out.append(rel_dir)
            dirnames[:] = []
    return out


# ---- what changed ------------------------------------------------------------------------------------------

def _snapshot(root: Path) -> dict[str, tuple]:
    """relative path -> (kind, mode, sha256 or link target) for every file and symlink, links not followed."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d not in ("proc", "dev")]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            try:
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    snap[rel] = ("link", 0, os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    snap[rel] = ("file", stat.S_IMODE(st.st_mode), _sha256(p))
                else:
                    snap[rel] = ("other", stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode))
            except OSError:
                continue  # vanished while we looked
    return snap


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content(path: Path, entry: tuple, cap: int) -> str | None:
    kind = entry[0]
    if kind == "link":
        return f"symlink -> {entry[2]}"
    if kind != "file":
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            data = f.read(cap + 1)
    except OSError:
        return None
    if b"\0" in data:
        return None
    text = data[:cap].decode("utf-8", "replace")
    return text + ("\n[... truncated]" if len(data) > cap else "")


# ---- small helpers -----------------------------------------------------------------------------------------

def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    """The command's output as the agent sees it: all of it, or its head and tail around a marker."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        if size <= cap:
            return f.read().decode("utf-8", "replace"), False
        head = f.read(cap // 2)
        f.seek(size - cap // 2)
        tail = f.read()
    marker = f"\n[... {size - len(head) - len(tail)} bytes truncated ...]\n"
    return head.decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace"), True


def _remove(path: Path) -> None:
    """Delete a machine's folder, even where the Dockerfile or the agent left folders without write bits."""
    def fix(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700) if os.path.isdir(p) and not os.path.islink(p) else None
            func(p)
        except OSError:
            pass
    if path.exists():
        shutil.rmtree(path, onerror=fix)
