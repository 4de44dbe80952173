"""The untrusted half of a sandboxed test run: loads model-written code and answers calls to its entry point.

Started by harness.py inside the sandbox as `python -I -S -B candidate_server.py <solution> <entry> <output>`.
Requests arrive on stdin as `repr((args, kwargs))` lines; each reply is one JSON line `["ok", repr(value)]` or
`["raise", exception type, message]`. The candidate's own prints go to <output> (size-capped by RLIMIT_FSIZE),
never into the reply channel.
"""
import ast
import json
import os
import sys


def main():
    solution_path, entry_point, output_path = sys.argv[1:4]
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    requests = os.fdopen(os.dup(0), "r")
    out = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    def send(obj):
        replies.write(json.dumps(obj) + "\n")

    ns = {"__name__": "solution"}
    try:
        with open(solution_path, encoding="utf-8") as f:
            exec(compile(f.read(), "solution.py", "exec"), ns)
        owner, _, method = entry_point.rpartition(".")
        fn = getattr(ns[owner](), method) if owner else ns[entry_point]  # `Solution.method`: LeetCode style
        if not callable(fn):
            raise TypeError(f"{entry_point} is not callable")
    except BaseException as e:  # noqa: BLE001 - any failure to load is the candidate's
        send(["load_error", f"{type(e).__name__}: {str(e)[:300]}"])
        return
    send(["ready"])
    for line in requests:
        args, kwargs = ast.literal_eval(line)
        try:
            value = fn(*args, **kwargs)
            send(["ok", repr(value)])
        except BaseException as e:  # noqa: BLE001 - SystemExit included: it is the candidate's answer
            send(["raise", type(e).__name__, str(e)[:300]])
        for stream in (sys.stdout, sys.stderr):  # so the output file holds what was printed so far
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - e.g. the file-size limit was hit
                pass


if __name__ == "__main__":
    main()
