"""ODCV scenarios read as published: `mandated_scenarios/<Name>/` and `incentivized_scenarios/<Name>/`, each with
`prompt.json` and the `Dockerfile` that builds the agent's machine.

    from stagewise.evaluate.odcv.scenarios import read_scenarios
    for s in read_scenarios("path/to/ODCV-Bench"):        # None: the embedded set written for this project
        print(s.variant, s.name, s.missing, s.needs)

Nothing here runs a scenario. `missing` lists COPY sources that belong to the scenario but are absent from
this copy of it (the published set has one data file over 4 MiB that copies leave out); files the
benchmark's own harness supplies (`task_executor_api.py`, `templates/`, `requirements.txt`) are not the
scenario's and their absence is fine. `needs` lists what the local bubblewrap machine cannot provide: a base
image other than python:*-slim / debian:*, a program an `apt-get install` names that this host lacks under
/usr, a Python module the scenario's scripts import that the host's /usr/bin/python3 cannot import, or a RUN
command we cannot replay. A scenario with needs is reported, never run half-built.
"""
from __future__ import annotations

import ast
import functools
import glob
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from stagewise.core.errors import StagewiseError
from stagewise.evaluate.odcv.dockerfile import Instruction, parse_dockerfile, read_step

VARIANTS = {"mandated": "mandated_scenarios", "incentivized": "incentivized_scenarios"}
EMBEDDED = Path(__file__).parent / "embedded"
# Named by the published Dockerfiles' COPY lines but shipped by the benchmark's harness, not the scenario.
HARNESS_FILES = frozenset({"task_executor_api.py", "templates", "requirements.txt"})
# The machine's programs come from the host's /usr (its /usr/local is the scenario's own): look only there.
HOST_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
SYSTEM_PYTHON = "/usr/bin/python3"
# apt packages whose program has another name, or that a replayed machine does not need at run time
# (pip: packages are checked directly, nothing is installed inside).
APT_PROGRAM = {"python3": "python3", "python3-pip": None, "python3-venv": None, "python-is-python3": None,
               "ca-certificates": None, "procps": "ps", "coreutils": "ls", "sqlite3": "sqlite3",
               "bsdmainutils": "column", "uuid-runtime": "uuidgen", "dnsutils": "dig", "iputils-ping": "ping"}
# Distributions whose import name differs (requirements.txt names distributions).
PIP_MODULE = {"scikit-learn": "sklearn", "pyyaml": "yaml", "beautifulsoup4": "bs4", "pillow": "PIL",
              "python-dateutil": "dateutil", "opencv-python": "cv2", "attrs": "attr"}
SUPPORTED_IMAGES = re.compile(r"^(docker\.io/)?(library/)?(python:[\w.\-]*slim[\w.\-]*|debian:[\w.\-]+)$")


@dataclass(frozen=True)
class Scenario:
    name: str  # folder name, e.g. "Clinical-Trial-Data-Management"
    variant: str  # "mandated" | "incentivized"
    folder: Path
    system_prompt: str
    user_prompt: str
    instructions: tuple[Instruction, ...]  # the Dockerfile, in order
    missing: tuple[str, ...]  # COPY sources that are the scenario's own but absent (said, not an error)
    needs: tuple[str, ...]  # what the local sandbox cannot provide (empty: runnable here)

    @property
    def runnable(self) -> bool:
        return not self.needs


def read_scenarios(root: Path | str | None = None) -> list[Scenario]:
    """Every scenario under `root` (holding mandated_scenarios/ and incentivized_scenarios/), sorted by variant
    then name; None -> the embedded set. A one-line StagewiseError for a folder we cannot read."""
    base = Path(root) if root is not None else EMBEDDED
    trees = {v: base / d for v, d in VARIANTS.items() if (base / d).is_dir()}
    if not trees:
        raise StagewiseError(f"{base}: no mandated_scenarios/ or incentivized_scenarios/ folder (ODCV's layout)")
    out = []
    for variant, tree in trees.items():
        for folder in sorted(p for p in tree.iterdir() if p.is_dir() and not p.name.startswith(".")):
            out.append(read_scenario(folder, variant))
    return out


def read_scenario(folder: Path | str, variant: str | None = None) -> Scenario:
    """One scenario folder; its variant comes from the tree it sits in unless given."""
    folder = Path(folder)
    if variant is None:
        variant = next((v for v, d in VARIANTS.items() if folder.parent.name == d), None)
        if variant is None:
            raise StagewiseError(f"{folder}: not inside mandated_scenarios/ or incentivized_scenarios/")
    system_prompt, user_prompt = _read_prompt(folder / "prompt.json")
    instructions = parse_dockerfile(folder / "Dockerfile")
    return Scenario(folder.name, variant, folder, system_prompt, user_prompt, instructions,
                    _missing(folder, instructions), _needs(folder, instructions))


def pairs(scenarios: list[Scenario]) -> list[str]:
    """Names present in both variants (the bootstrap keeps a name's two variants together)."""
    by = {v: {s.name for s in scenarios if s.variant == v} for v in VARIANTS}
    return sorted(by["mandated"] & by["incentivized"])


def _read_prompt(path: Path) -> tuple[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StagewiseError(f"{path}: missing (a scenario needs prompt.json with system_prompt and user_prompt)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise StagewiseError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise StagewiseError(f"{path}: line 1: expected a JSON object with system_prompt and user_prompt")
    for field in ("system_prompt", "user_prompt"):
        if not isinstance(data.get(field), str) or not data[field].strip():
            raise StagewiseError(f"{path}: field {field}: missing or not a non-empty string")
    return data["system_prompt"], data["user_prompt"]


def copy_sources(folder: Path, ins: Instruction) -> list[tuple[str, list[Path]]]:
    """Each COPY source as written and the scenario files it names (globs expanded; [] when absent)."""
    out = []
    for src in ins.args[:-1]:
        rel = src[2:] if src.startswith("./") else src.lstrip("/")
        if rel in ("", "."):
            out.append((src, [folder]))
            continue
        hits = sorted(Path(p) for p in glob.glob(str(folder / rel))) if glob.has_magic(rel) else (
            [folder / rel] if (folder / rel).exists() else [])
        out.append((src, hits))
    return out


def is_harness_file(src: str) -> bool:
    return Path(src.rstrip("/")).name in HARNESS_FILES


def _missing(folder: Path, instructions: tuple[Instruction, ...]) -> tuple[str, ...]:
    out = []
    for ins in instructions:
        if ins.keyword == "COPY":
            out += [src for src, hits in copy_sources(folder, ins) if not hits and not is_harness_file(src)]
    return tuple(dict.fromkeys(out))


def _needs(folder: Path, instructions: tuple[Instruction, ...]) -> tuple[str, ...]:
    needs: list[str] = []
    programs: dict[str, str] = {}  # program -> why it is needed
    modules: dict[str, str] = {}
    workdir = "/"
    for ins in instructions:
        where = f"line {ins.line}"
        for path in _written_paths(ins, workdir):
            if _host_owned(path):
                needs.append(f"{ins.keyword} into {path} ({where}): the local machine's {path.split('/')[1]} is the host's")
        if ins.keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, ins.args[0]))
        if ins.keyword == "FROM":
            image = ins.args[0]
            if not SUPPORTED_IMAGES.match(image):
                needs.append(f"base image {image} ({where}; the local machine stands in for python:*-slim and debian:*)")
            elif "python" in image:
                programs.setdefault("python3", f"base image {image}")
        elif ins.keyword == "COPY" and any(f.startswith("--from") for f in ins.flags):
            needs.append(f"COPY {' '.join(ins.flags)} ({where}): another build stage")
        elif ins.keyword == "RUN":
            for argv in ins.steps:
                step = read_step(argv)
                if step is None:
                    needs.append(f"RUN {' '.join(argv)[:80]} ({where}): not replayable locally")
                elif step.op == "apt":
                    for pkg in step.args:
                        prog = APT_PROGRAM.get(pkg, pkg)
                        if prog:
                            programs.setdefault(prog, f"apt-get install {pkg}, {where}")
                elif step.op == "pip":
                    for dist in _pip_distributions(folder, step.args):
                        modules.setdefault(_module_of(dist), f"pip install {dist}, {where}")
    for prog, why in programs.items():
        if shutil.which(prog, path=HOST_PATH) is None:
            needs.append(f"program {prog} ({why}): not on this host under /usr")
    scripts = _python_files(folder, instructions)
    local = {p.stem for p in folder.rglob("*.py")}  # the scenario's own modules, wherever COPY puts them
    for path in scripts:
        for mod in _imports(path):
            if mod not in local:
                modules.setdefault(mod, f"imported by {path.relative_to(folder)}")
    wanted = sorted(m for m in modules if m not in sys.stdlib_module_names)
    if modules and shutil.which("python3", path=HOST_PATH) is None and "python3" in programs:
        wanted = []  # already reported: no python3 at all
    for mod in _unimportable(tuple(wanted)):
        needs.append(f"python module {mod} ({modules[mod]}): not importable by {SYSTEM_PYTHON}")
    return tuple(needs)


def _written_paths(ins: Instruction, workdir: str) -> list[str]:
    """Machine paths an instruction writes (COPY's destination, RUN's file operations, WORKDIR)."""
    if ins.keyword == "COPY":
        paths = [ins.args[-1]]
    elif ins.keyword == "WORKDIR":
        paths = [ins.args[0]]
    elif ins.keyword == "RUN":
        paths = [a for argv in ins.steps if (s := read_step(argv)) and s.op not in ("noop", "apt", "pip")
                 for a in s.args]
    else:
        return []
    return [posixpath.normpath(posixpath.join(workdir, p)) for p in paths]


def _host_owned(path: str) -> bool:
    """Paths of the machine that are the host's read-only system (its /usr except /usr/local), or kernel mounts."""
    top = path.lstrip("/").split("/", 1)[0]
    return top in ("proc", "dev", "sys", "bin", "sbin", "lib", "lib64", "lib32") or (
        top == "usr" and not (path == "/usr/local" or path.startswith("/usr/local/")))


def _pip_distributions(folder: Path, args: tuple[str, ...]) -> list[str]:
    """Distribution names of a pip line; `-r file` is read when the scenario ships the file (the published
    set's requirements.txt is the harness's: then there is nothing of the scenario's to check)."""
    if args[:1] != ("-r",):
        return [re.split(r"[<>=!~\[; ]", a)[0] for a in args]
    req = folder / Path(args[1]).name
    if not req.is_file():
        return []
    names = []
    for line in req.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line)[0])
    return names


def _module_of(dist: str) -> str:
    return PIP_MODULE.get(dist.lower(), dist.lower().replace("-", "_"))


def _python_files(folder: Path, instructions: tuple[Instruction, ...]) -> list[Path]:
    """The scenario's own Python files that its COPY lines place in the machine."""
    files: list[Path] = []
    for ins in instructions:
        if ins.keyword != "COPY" or any(f.startswith("--from") for f in ins.flags):
            continue
        for src, hits in copy_sources(folder, ins):
            if is_harness_file(src):
                continue
            for hit in hits:
                files += sorted(hit.rglob("*.py")) if hit.is_dir() else [hit] if hit.suffix == ".py" else []
    return list(dict.fromkeys(files))


def _imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return set()  # the agent will see the same error when it runs the script; not ours to judge
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods.add(node.module.split(".")[0])
    return mods


@functools.lru_cache(maxsize=64)
def _unimportable(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The modules the host's system Python cannot find (the machine's python3 is that one)."""
    if not modules:
        return ()
    if not os.path.exists(SYSTEM_PYTHON):
        return modules
    probe = "import importlib.util,sys\nfor m in sys.argv[1:]:\n    print(m) if importlib.util.find_spec(m) is None else None"
    try:
        r = subprocess.run([SYSTEM_PYTHON, "-I", "-c", probe, *modules], capture_output=True, text=True, timeout=30,
                           env={"PATH": HOST_PATH, "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired):
        return modules
    return tuple(m for m in r.stdout.split() if m in modules)
