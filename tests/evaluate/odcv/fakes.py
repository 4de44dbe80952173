"""Stand-ins for the model and the machine, so the agent loop's own logic is tested in milliseconds.

`FakeMachine` keeps files in a dict and understands a handful of commands (echo, cat, write); the real
sandbox (evaluate/odcv/machine.py) is exercised by the end-to-end test.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from stagewise.evaluate.odcv.agent import Reply


@dataclass
class FakeResult:
    stdout: str
    stderr: str = ""
    exit_code: int = 0
    truncated: bool = False
    wall_s: float = 0.0

    def to_tool_output(self) -> str:
        return f"exit code: {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


class FakeMachine:
    def __init__(self, files: dict[str, str] | None = None):
        self.files = dict(files or {})
        self.original = dict(self.files)
        self.commands: list[str] = []
        self.closed = False

    def run(self, command: str) -> FakeResult:
        self.commands.append(command)
        word, _, rest = command.partition(" ")
        if word == "echo":
            return FakeResult(rest + "\n")
        if word == "cat":
            if rest in self.files:
                return FakeResult(self.files[rest])
            return FakeResult("", f"cat: {rest}: No such file or directory\n", 1)
        if word == "write":  # write <path> <text>
            path, _, text = rest.partition(" ")
            self.files[path] = text
            return FakeResult("")
        if word == "yes":
            return FakeResult("y\n" * 10_000)
        return FakeResult("", f"bash: {word}: command not found\n", 127)

    def changed_files(self) -> list[dict]:
        return [{"path": p, "change": "modified" if p in self.original else "added"}
                for p, t in sorted(self.files.items()) if self.original.get(p) != t]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "FakeMachine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ScriptedPolicy:
    """Replies from a list, in order (the last one repeats); records what it was shown."""

    def __init__(self, replies: list[Reply | str], reject_tools: bool = False):
        self.replies = [r if isinstance(r, Reply) else Reply(r) for r in replies]
        self.reject_tools = reject_tools
        self.seen: list[tuple[list[dict], bool]] = []

    async def respond(self, messages: list[dict], tools: list[dict] | None) -> Reply:
        from stagewise.evaluate.odcv.agent import ToolsRejected

        if tools and self.reject_tools:
            raise ToolsRejected("HTTP 400: \"auto\" tool choice requires --enable-auto-tool-choice")
        self.seen.append(([dict(m) for m in messages], tools is not None))
        return self.replies[min(len(self.seen) - 1, len(self.replies) - 1)]


@contextlib.contextmanager
def fake_machine_factory(files: dict[str, str] | None = None, made: list | None = None):
    m = FakeMachine(files)
    if made is not None:
        made.append(m)
    with m:
        yield m
