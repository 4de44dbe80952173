"""Read an ODCV scenario's Dockerfile: exactly the instruction forms the published set uses, nothing more.

    from stagewise.evaluate.odcv.dockerfile import parse_dockerfile
    for ins in parse_dockerfile(Path("mandated_scenarios/Some-Scenario/Dockerfile")):
        print(ins.line, ins.keyword, ins.args, ins.steps)

The published Dockerfiles use FROM, WORKDIR, COPY, RUN and CMD; a RUN is a chain of `&&`-joined commands
(apt-get update/install, pip3 install -r, mkdir -p, chmod, mv, rm -f, ...). Some files have two instructions
glued on one line (`CMD [...]FROM python:3.13-slim`, a concatenation of two copies): they are split here, and
the second is marked `joined` (Docker itself reads it as the rest of the CMD, so it starts no new stage).
Any other instruction keyword is an error naming the file and line: we would rather refuse than lay out a
machine that differs from the one the benchmark's authors built. A RUN command outside the known forms is
not an error: `local_needs` reports it, and the machine is not built locally.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from stagewise.core.errors import StagewiseError

KEYWORDS = ("FROM", "WORKDIR", "COPY", "RUN", "CMD")
_GLUED = re.compile(r"\s*(" + "|".join(KEYWORDS) + r")\b", re.IGNORECASE)
# Shell syntax a RUN step may not contain for us to replay it step by step (globs are fine: we expand them).
_SHELL_SYNTAX = re.compile(r"[;|<>`$(){}]")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction.

    keyword: FROM | WORKDIR | COPY | RUN | CMD. args: FROM (image,), WORKDIR (path,), COPY (sources...,
    dest) with flags dropped, CMD the exec-form list or (shell text,). steps: for RUN, each `&&`-joined
    command as argv (exec form: one step). line: 1-based line where the instruction starts.
    """

    keyword: str
    args: tuple[str, ...]
    line: int
    text: str
    steps: tuple[tuple[str, ...], ...] = ()
    joined: bool = False  # glued to the end of the previous instruction's line
    flags: tuple[str, ...] = ()  # COPY's --chmod=... / --chown=...


def parse_dockerfile(path: Path) -> tuple[Instruction, ...]:
    """Every instruction of `path`, in order; a one-line StagewiseError naming file and line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StagewiseError(f"{path}: missing (every scenario needs a Dockerfile)") from None
    except UnicodeDecodeError as e:
        raise StagewiseError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out: list[Instruction] = []
    for line_no, logical in _logical_lines(text):
        joined = False
        while logical:
            ins, rest = _instruction(path, line_no, logical, joined)
            out.append(ins)
            logical, joined = rest, True
    if not out:
        raise StagewiseError(f"{path}: no instructions")
    if out[0].keyword != "FROM":
        raise StagewiseError(f"{path}: line {out[0].line}: the first instruction must be FROM, not {out[0].keyword}")
    return tuple(out)


def _logical_lines(text: str):
    """(first line number, text) per instruction: comments and blank lines dropped, `\\` continuations joined."""
    buf, start = "", 0
    for i, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):  # Docker drops comment lines inside a continuation
            continue
        if not buf:
            start = i
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        yield start, (buf + stripped).strip()
        buf = ""
    if buf.strip():
        yield start, buf.strip()


def _instruction(path: Path, line: int, text: str, joined: bool) -> tuple[Instruction, str]:
    """The instruction at the start of `text`, and what is glued after it (`CMD [...]FROM ...`)."""
    keyword, _, rest = text.partition(" ")
    kw = keyword.upper()
    if kw not in KEYWORDS:
        raise StagewiseError(f"{path}: line {line}: unknown instruction {keyword[:40]!r} "
                             f"(the published scenarios use only {', '.join(KEYWORDS)})")
    rest = rest.strip()
    if not rest:
        raise StagewiseError(f"{path}: line {line}: {kw} without arguments")
    where = f"{path}: line {line}"
    if kw in ("CMD", "RUN") and rest.startswith("["):
        try:
            argv, end = json.JSONDecoder().raw_decode(rest)
        except json.JSONDecodeError:
            argv, end = None, 0
        if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
            tail = rest[end:]
            if tail.strip() and not _GLUED.match(tail):
                raise StagewiseError(f"{where}: unexpected text after {kw}'s list: {tail.strip()[:60]!r}")
            args = tuple(argv)
            steps = (args,) if kw == "RUN" else ()
            return Instruction(kw, args, line, text[: len(keyword) + 1 + end].strip(), steps, joined), tail.strip()
    if kw == "FROM":
        parts = rest.split()
        return Instruction(kw, (parts[0],), line, text, joined=joined), ""
    if kw == "WORKDIR":
        return Instruction(kw, (rest,), line, text, joined=joined), ""
    if kw == "COPY":
        words = _split(where, rest)
        flags = tuple(w for w in words if w.startswith("--"))
        paths = tuple(w for w in words if not w.startswith("--"))
        if len(paths) < 2:
            raise StagewiseError(f"{where}: COPY needs a source and a destination")
        return Instruction(kw, paths, line, text, flags=flags, joined=joined), ""
    if kw == "RUN":
        steps = tuple(_split(where, step) for step in _and_chain(rest))
        return Instruction(kw, (rest,), line, text, steps, joined), ""
    return Instruction(kw, (rest,), line, text, joined=joined), ""  # CMD, shell form


def _split(where: str, text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError as e:
        raise StagewiseError(f"{where}: cannot read {text[:60]!r} ({e})") from None


def _and_chain(text: str) -> list[str]:
    """`a && b && c` -> [a, b, c]; a step with other shell syntax stays whole (and is then not replayable)."""
    return [s.strip() for s in text.split("&&") if s.strip()]


# ---- what a RUN step means -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One replayable RUN command: op is apt | pip | mkdir | chmod | mv | cp | rm | touch | noop."""

    op: str
    args: tuple[str, ...]  # apt/pip: package names or ("-r", file); file ops: their operands
    recursive: bool = False
    mode: str = ""  # chmod's mode


def read_step(argv: tuple[str, ...]) -> Step | None:
    """The meaning of one RUN command, or None when it is outside the forms the published set uses."""
    if not argv or any(_SHELL_SYNTAX.search(a) for a in argv):
        return None
    cmd, rest = argv[0], argv[1:]
    options = [a for a in rest if a.startswith("-")]
    operands = tuple(a for a in rest if not a.startswith("-"))
    if cmd in ("apt-get", "apt"):
        if not operands:
            return None
        if operands[0] in ("update", "clean", "autoremove", "autoclean"):
            return Step("noop", ())
        if operands[0] == "install" and len(operands) > 1:
            return Step("apt", operands[1:])
        return None
    if cmd in ("pip", "pip3") or (cmd in ("python3", "python") and rest[:2] == ("-m", "pip")):
        words = rest[2:] if cmd.startswith("python") else rest
        if not words or words[0] != "install":
            return None
        words = tuple(w for w in words[1:] if w not in ("--no-cache-dir", "--upgrade", "-U", "--quiet", "-q"))
        if words[:1] == ("-r",) and len(words) == 2:
            return Step("pip", words)
        if words and not any(w.startswith("-") for w in words):
            return Step("pip", words)
        return None
    recursive = any(o in ("-R", "-r", "-rf", "-fr", "-Rf", "-fR", "--recursive") for o in options)
    if cmd == "mkdir" and operands and set(options) <= {"-p"}:
        return Step("mkdir", operands)
    if cmd == "chmod" and len(operands) >= 2 and set(options) <= {"-R", "--recursive"}:
        return Step("chmod", operands[1:], recursive, operands[0])
    if cmd == "chmod" and len(rest) >= 2 and re.fullmatch(r"-[rwxXst]+", rest[0]) and len(operands) >= 1:
        return Step("chmod", operands, False, rest[0])  # `chmod -w file`: a mode, not an option
    if cmd == "mv" and len(operands) >= 2 and set(options) <= {"-f"}:
        return Step("mv", operands)
    if cmd == "cp" and len(operands) >= 2 and set(options) <= {"-r", "-R", "-a", "-f", "-p"}:
        return Step("cp", operands, recursive or "-a" in options)
    if cmd == "rm" and operands and set(options) <= {"-f", "-r", "-R", "-rf", "-fr", "-Rf", "-fR"}:
        return Step("rm", operands, recursive)
    if cmd == "touch" and operands and not options:
        return Step("touch", operands)
    return None
