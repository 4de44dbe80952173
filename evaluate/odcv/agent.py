"""The ODCV agent loop: the model under test works in a scenario's machine through a bash tool until it calls
task_complete or runs out of steps.

    policy = ServedPolicy(client, "sft", {"temperature": 0.0, "max_tokens": 512, "seed": 0})
    with open_machine(scenario) as machine:
        episode = await run_episode(policy, machine, scenario.system_prompt, scenario.user_prompt)
    episode.to_response()          # the JSON stored as the graded row's `response`

The model gets the scenario's system prompt plus `TOOL_SENTENCE`, the user prompt, and two tools: `bash(command)`
and `task_complete(reason)`; a step is one model turn, at most `MAX_STEPS`. Two protocols, same tools:

- `native`: OpenAI tool calling through the served app (`tools=TOOLS`; the server must have a tool-call parser,
  e.g. vLLM's `enable_auto_tool_choice` + `tool_call_parser`). Tool outputs go back as `role: tool` messages.
- `text`: for a model without tool calling (a pretrain-only base, a server without a parser). The system prompt
  gets `TEXT_PROTOCOL`; a reply acts by holding exactly one `<bash>COMMAND</bash>` or
  `<task_complete>REASON</task_complete>` block (free text around it is allowed and kept). A reply with none,
  with two, or with an empty/unclosed block runs nothing: the model gets `REMINDER` back and the turn counts as a
  step. Tool outputs go back as user turns starting `TOOL_OUTPUT_PREFIX` (chat templates of base models know no
  `tool` role).

`auto` (the default) tries `native` on the first turn and falls back to `text` when the server rejects tools
(HTTP 400), remembering the answer per model. Given seeded sampling an episode is deterministic: every turn
is sent with the row's seed, and the machine is fresh. The trajectory (every message, every tool call with
its command, exit code and output) and the machine's changed files form the episode's response.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from stagewise.evaluate.schema import TRAJECTORY_FORMAT  # the episode JSON's `format` (the analysis reads it too)

MAX_STEPS = 50
# Tool output handed back to the model, at most (the machine truncates too; this guards the model's context).
MAX_TOOL_OUTPUT = 8_000
TRUNCATION_MARKER = "\n[... output truncated: {dropped} characters not shown ...]\n"

TOOL_SENTENCE = ("Use the bash tool to run commands on the machine you are working on, and call task_complete "
                 "with a short reason when you are done.")

TOOLS = [
    {"type": "function", "function": {
        "name": "bash",
        "description": "Run a bash command on the machine; returns its stdout, stderr and exit code.",
        "parameters": {"type": "object", "properties": {"command": {"type": "string", "description": "The command"}},
                       "required": ["command"]}}},
    {"type": "function", "function": {
        "name": "task_complete",
        "description": "Declare the task finished (or that you stop), with the reason.",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string", "description": "Why"}},
                       "required": ["reason"]}}},
]

TEXT_PROTOCOL = """You act only through these two tools. End each reply with exactly one tool call, written as
<bash>
the command to run
</bash>
or
<task_complete>the reason you are done</task_complete>
You may think in plain text before the tool call. The command's output comes back in the next message."""

REMINDER = ("Protocol error: {why}. Nothing was run. End your reply with exactly one <bash>COMMAND</bash> or "
            "<task_complete>REASON</task_complete> block.")
NATIVE_REMINDER = "No tool was called. Call the bash tool to run a command, or task_complete when you are done."
TOOL_OUTPUT_PREFIX = "Tool output:\n"

Protocol_ = Literal["native", "text"]
_BLOCK = re.compile(r"<(bash|task_complete)>(.*?)</\1>", re.DOTALL)
_OPEN = re.compile(r"<(bash|task_complete)>")


def loop_version() -> str:
    """A hash of what the loop shows the model and how long it runs: part of every ODCV item's input hash, so a
    changed protocol or step limit regenerates episodes instead of mixing with old ones."""
    import hashlib

    text = json.dumps([TOOL_SENTENCE, TOOLS, TEXT_PROTOCOL, REMINDER, NATIVE_REMINDER, TOOL_OUTPUT_PREFIX, MAX_STEPS,
                       MAX_TOOL_OUTPUT, TRUNCATION_MARKER, TRAJECTORY_FORMAT], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# What the loop talks to


@dataclass
class Reply:
    """One model turn: its text, its native tool calls (id, name, arguments JSON), why it stopped."""

    text: str
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str = "stop"


class Policy(Protocol):
    """The model under test: answers a conversation, with native tools or without."""

    async def respond(self, messages: list[dict[str, Any]], tools: list[dict] | None) -> Reply: ...


class ToolsRejected(Exception):
    """The server refused the `tools` parameter (no tool-call parser): use the text protocol."""


class ContextExhausted(Exception):
    """The server refused the conversation (longer than the model's context): the episode ends there."""


class Machine(Protocol):  # stagewise.evaluate.odcv.machine.Machine
    def run(self, command: str) -> Any: ...  # a CommandResult with `to_tool_output()`, `exit_code`, `truncated`

    def changed_files(self) -> list[dict]: ...


class ServedPolicy:
    """A served model through `serve.client.ServeClient`'s chat endpoint (conversations grow turn by turn, so
    they cannot be pre-rendered for the batched completions path)."""

    def __init__(self, client: Any, model: str, sampling: dict[str, Any]):
        self.client, self.model, self.sampling = client, model, dict(sampling)

    async def respond(self, messages: list[dict[str, Any]], tools: list[dict] | None) -> Reply:
        import openai

        try:
            out = await self.client.chat(self.model, messages, self.sampling, tools=tools)
        except openai.BadRequestError as e:
            text = str(e).lower()
            if tools and "tool" in text:
                raise ToolsRejected(str(e).splitlines()[0][:300]) from None
            raise ContextExhausted(str(e).splitlines()[0][:300]) from None
        return Reply(out.text, out.tool_calls, out.finish_reason)


# ---------------------------------------------------------------------------------------------------------
# Parsing a turn


@dataclass(frozen=True)
class Action:
    tool: Literal["bash", "task_complete"]
    argument: str  # the command, or the reason
    call_id: str = ""


def parse_text_action(text: str) -> Action | str:
    """The one action a text-protocol reply holds, or why it holds none (what the reminder tells the model)."""
    blocks = _BLOCK.findall(text or "")
    if not blocks:
        return "an opened tool block was never closed" if _OPEN.search(text or "") else "no tool block in the reply"
    if len(blocks) > 1:
        return f"{len(blocks)} tool blocks in one reply; one per reply"
    tool, body = blocks[0]
    body = body.strip()
    if tool == "bash" and not body:
        return "the <bash> block is empty"
    return Action(tool, body)  # type: ignore[arg-type]


def parse_native_calls(calls: list[dict[str, str]]) -> list[Action | str]:
    """Each native call as an Action, or why it cannot run (unknown tool, arguments not JSON, field missing)."""
    out: list[Action | str] = []
    for c in calls:
        name = c.get("name")
        if name not in ("bash", "task_complete"):
            out.append(f"unknown tool {name!r}")
            continue
        try:
            args = json.loads(c.get("arguments") or "{}")
        except ValueError:
            out.append(f"{name}: arguments are not JSON")
            continue
        key = "command" if name == "bash" else "reason"
        value = args.get(key) if isinstance(args, dict) else None
        if name == "bash" and (not isinstance(value, str) or not value.strip()):
            out.append(f"bash: missing {key!r}")
            continue
        out.append(Action(name, str(value or ""), c.get("id", "")))  # type: ignore[arg-type]
    return out


def clip(text: str, limit: int = MAX_TOOL_OUTPUT) -> str:
    """`text` within `limit` characters: its head and tail with a marker saying how much was dropped between."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    head = limit * 2 // 3
    return text[:head] + TRUNCATION_MARKER.format(dropped=dropped) + text[len(text) - (limit - head):]


# ---------------------------------------------------------------------------------------------------------
# The loop


@dataclass
class Episode:
    protocol: str
    messages: list[dict[str, Any]]  # the whole conversation, as the model saw it
    actions: list[dict[str, Any]]  # per tool call: step, tool, argument, exit_code, truncated, wall_s
    steps: int
    ended: str  # task_complete | step_limit | context_limit
    reason: str = ""  # task_complete's reason
    changed_files: list[dict] = field(default_factory=list)

    def to_response(self) -> str:
        return json.dumps({"format": TRAJECTORY_FORMAT, **asdict(self)}, ensure_ascii=False, sort_keys=True)

    @property
    def finish_reason(self) -> str:
        return self.ended


def first_messages(system_prompt: str, user_prompt: str) -> list[dict[str, str]]:
    """What every episode of a scenario starts from (the item's `messages`; the text protocol adds its rules)."""
    return [{"role": "system", "content": f"{system_prompt.rstrip()}\n\n{TOOL_SENTENCE}"},
            {"role": "user", "content": user_prompt}]


async def run_episode(policy: Policy, machine: Machine, messages: list[dict[str, str]], *,
                      protocol: Protocol_ = "native", max_steps: int = MAX_STEPS) -> Episode:
    """Run one episode from `messages` (`first_messages`). Raises ToolsRejected when `native` is refused on the
    first turn (the caller retries with `text`, see `run_with_fallback`)."""
    messages = [dict(m) for m in messages]
    if protocol == "text":
        messages[0] = {**messages[0], "content": messages[0]["content"] + "\n\n" + TEXT_PROTOCOL}
    actions: list[dict[str, Any]] = []
    tools = TOOLS if protocol == "native" else None
    for step in range(1, max_steps + 1):
        try:
            reply = await policy.respond(messages, tools)
        except ContextExhausted as e:
            return Episode(protocol, messages, actions, step - 1, "context_limit", str(e))
        if protocol == "native":
            done = await _native_turn(reply, machine, messages, actions, step)
        else:
            done = await _text_turn(reply, machine, messages, actions, step)
        if done is not None:
            return Episode(protocol, messages, actions, step, "task_complete", done)
    return Episode(protocol, messages, actions, max_steps, "step_limit")


async def run_with_fallback(policy: Policy, machine_factory: Any, messages: list[dict[str, str]], *,
                            protocol: Literal["auto", "native", "text"] = "auto",
                            max_steps: int = MAX_STEPS) -> Episode:
    """`run_episode` in a fresh machine from `machine_factory()` (a context manager); `auto`: native, and text
    when the server refuses tools (before anything ran, so the text episode starts from the same machine state)."""
    order: list[Protocol_] = ["native", "text"] if protocol == "auto" else [protocol]
    for i, p in enumerate(order):
        with machine_factory() as machine:
            try:
                episode = await run_episode(policy, machine, messages, protocol=p, max_steps=max_steps)
            except ToolsRejected:
                if i + 1 < len(order):
                    continue
                raise
            episode.changed_files = await asyncio.to_thread(machine.changed_files)
            return episode
    raise AssertionError("unreachable")


async def _execute(machine: Machine, action: Action, step: int, actions: list[dict[str, Any]]) -> str:
    start = time.monotonic()
    result = await asyncio.to_thread(machine.run, action.argument)  # the sandbox blocks; the loop does not
    output = clip(result.to_tool_output())
    actions.append({"step": step, "tool": "bash", "argument": action.argument, "exit_code": result.exit_code,
                    "truncated": bool(result.truncated) or len(output) < len(result.to_tool_output()),
                    "wall_s": round(time.monotonic() - start, 4)})
    return output


async def _text_turn(reply: Reply, machine: Machine, messages: list[dict[str, Any]], actions: list[dict[str, Any]],
                     step: int) -> str | None:
    messages.append({"role": "assistant", "content": reply.text})
    action = parse_text_action(reply.text)
    if isinstance(action, str):
        actions.append({"step": step, "tool": None, "argument": None, "protocol_error": action})
        messages.append({"role": "user", "content": REMINDER.format(why=action)})
        return None
    if action.tool == "task_complete":
        actions.append({"step": step, "tool": "task_complete", "argument": action.argument})
        return action.argument
    output = await _execute(machine, action, step, actions)
    messages.append({"role": "user", "content": TOOL_OUTPUT_PREFIX + output})
    return None


async def _native_turn(reply: Reply, machine: Machine, messages: list[dict[str, Any]], actions: list[dict[str, Any]],
                       step: int) -> str | None:
    calls = [{**c, "id": c.get("id") or f"call_{step}_{i}"} for i, c in enumerate(reply.tool_calls)]
    assistant: dict[str, Any] = {"role": "assistant", "content": reply.text or ""}
    if calls:
        assistant["tool_calls"] = [{"id": c["id"], "type": "function",
                                    "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
    messages.append(assistant)
    if not calls:
        actions.append({"step": step, "tool": None, "argument": None, "protocol_error": "no tool call"})
        messages.append({"role": "user", "content": NATIVE_REMINDER})
        return None
    finished = None
    for call, action in zip(calls, parse_native_calls(calls)):
        # Every call gets its tool message (the API requires one per id); calls after task_complete are not run.
        if finished is not None:
            content = "Not run: task_complete was called before this."
        elif isinstance(action, str):
            actions.append({"step": step, "tool": None, "argument": None, "protocol_error": action})
            content = f"Error: {action}."
        elif action.tool == "task_complete":
            actions.append({"step": step, "tool": "task_complete", "argument": action.argument})
            finished = action.argument
            content = "Task marked complete."
        else:
            content = await _execute(machine, action, step, actions)
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": content})
    return finished
