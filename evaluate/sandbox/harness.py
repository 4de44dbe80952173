"""The trusted half of a sandboxed test run: runs a task's test code against the candidate in another process.

Runs INSIDE the bubblewrap sandbox with the standard library only (`python -I -S -B /task/harness.py`); the
parent (evaluate/sandbox/run.py) writes a nonce line and a task JSON line to its stdin. Model-written code
never runs in this process: it runs in `candidate_server.py`, a child that answers calls over a pipe with
`repr`s of plain values, so the test's comparisons happen here where the candidate cannot patch them. The
verdict is printed as `VERDICT <hmac> <json>` keyed by the nonce, which only this process ever held (it is
made non-dumpable first, so the candidate process cannot read its memory or file descriptors).
"""
import ast
import builtins
import ctypes
import hashlib
import hmac
import json
import os
import select
import signal
import subprocess
import sys
import time

PR_SET_DUMPABLE = 4
MAX_LINE = 1 << 20  # one reply from the candidate; longer is treated as a crash


class CandidateError(Exception):
    """The candidate raised, died, timed out or answered garbage; a test that hits this fails."""


class Opaque:
    """A return value that is not a plain literal (e.g. an object with a rigged __eq__): equal to nothing."""

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = None

    def __repr__(self):
        return f"<opaque {self.text[:80]}>"


class Candidate:
    """Calls the entry point in the candidate process; one request and one reply line per call."""

    def __init__(self, proc, call_timeout_s):
        self.proc = proc
        self.call_timeout_s = call_timeout_s
        self.calls = 0
        self.dead = None
        self._buf = b""

    def read_line(self, deadline):
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            self._buf += chunk
            if len(self._buf) > MAX_LINE:
                raise ValueError("reply too long")
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def receive(self, timeout_s):
        try:
            return json.loads(self.read_line(time.monotonic() + timeout_s))
        except TimeoutError:
            self.kill(f"timeout: no answer within {timeout_s:g}s")
        except EOFError:
            self.kill(f"crashed: candidate process exited ({self.proc.poll()})")
        except ValueError as e:
            self.kill(f"crashed: unreadable reply ({e})")
        raise CandidateError(self.dead)

    def kill(self, why):
        self.dead = self.dead or why
        try:
            self.proc.kill()
        except OSError:
            pass

    def __call__(self, *args, **kwargs):
        if self.dead:
            raise CandidateError(self.dead)
        self.calls += 1
        try:
            self.proc.stdin.write((repr((args, kwargs)) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            self.kill("crashed: candidate process closed its input")
            raise CandidateError(self.dead) from None
        reply = self.receive(self.call_timeout_s)
        if not isinstance(reply, list) or not reply:
            self.kill("crashed: malformed reply")
            raise CandidateError(self.dead)
        if reply[0] == "ok" and len(reply) == 2 and isinstance(reply[1], str):
            try:
                return ast.literal_eval(reply[1])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return Opaque(reply[1])
        if reply[0] == "raise" and len(reply) == 3:
            # Builtin exception types are re-raised as themselves, so a test's `except ValueError` still works.
            cls = getattr(builtins, str(reply[1]), None)
            if isinstance(cls, type) and issubclass(cls, Exception) and cls is not CandidateError:
                raise cls(str(reply[2]))
            raise CandidateError(f"{reply[1]}: {reply[2]}")
        self.kill("crashed: malformed reply")
        raise CandidateError(self.dead)


def run(task, nonce):
    server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "candidate_server.py")
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", server, task["solution_path"], task["entry_point"], task["output_path"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
    )
    cand = Candidate(proc, task["call_timeout_s"])
    verdict = {"passed": False, "status": "failed", "detail": "", "calls": 0}
    try:
        hello = cand.receive(task["load_timeout_s"])
        if hello != ["ready"]:
            verdict.update(status="load_error", detail=str(hello[1] if isinstance(hello, list) and len(hello) > 1 else hello))
            return verdict
        ns = {"__name__": "__test__", "candidate": cand, task["entry_point"].split(".")[-1]: cand}
        try:
            exec(compile(task["test"], "test.py", "exec"), ns)
            check = ns.get("check")
            if callable(check):
                check(cand)
            verdict.update(passed=cand.dead is None, status="passed" if cand.dead is None else "failed")
        except AssertionError as e:
            verdict.update(status="failed", detail=f"assertion failed {str(e)[:200]}".strip())
        except CandidateError as e:
            verdict.update(status="failed", detail=str(e)[:300])
        except Exception as e:  # the candidate's answer broke the test (e.g. TypeError comparing)
            verdict.update(status="failed", detail=f"{type(e).__name__}: {str(e)[:200]}")
        if cand.dead and cand.dead.startswith(("timeout", "crashed")):
            verdict["status"] = cand.dead.split(":")[0]
            verdict["detail"] = cand.dead
    except CandidateError as e:
        verdict.update(status=str(e).split(":")[0] if str(e).startswith(("timeout", "crashed")) else "load_error",
                       detail=str(e)[:300])
    finally:
        verdict["calls"] = cand.calls
        try:
            proc.stdin.close()  # lets a well-behaved candidate exit and flush its output
            proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            cand.kill(cand.dead or "")
            proc.wait()
        # Whatever the candidate left running (forks, daemons): kill(-1) reaches every process we may signal
        # in this pid namespace except ourselves and the namespace's init.
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    return verdict


def main():
    nonce = sys.stdin.readline().strip().encode()
    task = json.loads(sys.stdin.readline())
    sys.stdin.close()
    # Non-dumpable: the candidate process (same uid) may not ptrace us or open /proc/<us>/mem or fd/.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    verdict = run(task, nonce)
    try:
        with open(task["output_path"], "rb") as f:
            verdict["output"] = f.read(task["output_bytes"]).decode("utf-8", "replace")
    except OSError:
        verdict["output"] = ""
    payload = json.dumps(verdict, sort_keys=True)
    sig = hmac.new(nonce, payload.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write(f"VERDICT {sig} {payload}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
