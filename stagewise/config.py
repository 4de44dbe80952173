"""The typed study config: one YAML file describes a whole study, validated once when loaded.

    study = load_study("configs/demo.yaml", ["training.sft.max_steps=20", "seed=1"])

Each package owns its section's schema (cluster/, train/, serve/, evaluate/, analysis/ `config.py`); this
module composes them, applies `key=value` overrides and checks what crosses sections (every model is either
given or trained, stages chain in order, evaluations name served models). A bad file fails with one line
naming the file and the field. Relative paths resolve against the current working directory.

Families (the published study ran the same experiment on two model families): `families:` lists them, each
with its own `models`, `training` and optionally its `tiny` shape; at load they are flattened into the study's
`models` (each tagged with its `family`) and `training`, so every stage still takes its own section. Models
outside every family (a shared judge) stay under the top-level `models:`. A config with no `families:` is one
implicit family. Comparisons stay inside a family unless `analysis.cross_family: true`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stagewise.analysis.config import AnalysisConfig
from stagewise.cluster.config import ClusterConfig
from stagewise.evaluate.config import EvalConfig
from stagewise.serve.config import ServeConfig
from stagewise.core.errors import StagewiseError
from stagewise.core.context import ModelRef, RunContext
from stagewise.core.wandb_run import WandbSettings
from stagewise.train.config import TinyModelConfig, TrainStageConfig


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # served model id and folder name
    stage: str  # base | sft | production | judge | ... (what the analysis groups by)
    # A local HF dir or a hub id. None: produced by the training stage whose `output` is this id.
    source: str | None = None
    parent: str | None = None  # the model id this one was trained from (lineage), if any
    role: Literal["policy", "judge", "writer"] = "policy"
    family: str | None = None  # the model family it belongs to (set from `families:` at load); None: no family


class FamilySpec(BaseModel):
    """One model family: its checkpoints by stage and the stages that train them (moved into the study's
    `models`/`training` at load; what stays here is the name and the tiny shape)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    # The random-init shape of this family's `init: tiny` stages (default: the study's `tiny`).
    tiny: TinyModelConfig | None = None
    # Empty once flattened (and so never dumped): the models and stages are the study's, tagged with the family.
    models: list[ModelSpec] = Field(default_factory=list, exclude=True)
    training: list[TrainStageConfig] = Field(default_factory=list, exclude=True)


class Study(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    output_dir: Path
    seed: int = 0
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig)
    families: list[FamilySpec] = Field(default_factory=list)  # empty: one implicit family
    models: list[ModelSpec] = Field(min_length=1)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    training: list[TrainStageConfig] = Field(default_factory=list)
    serving: ServeConfig = Field(default_factory=ServeConfig)
    evaluation: EvalConfig = Field(default_factory=EvalConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    wandb: WandbSettings = Field(default_factory=WandbSettings)

    @field_validator("output_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        # Ray Train and Serve workers do not run in the driver's working directory: every path we hand them
        # must be absolute, so a relative output_dir is fixed against the cwd of whoever loads the config.
        return v.expanduser().absolute()

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        return flatten_families(raw) if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _cross_section(self) -> "Study":
        ids = [m.id for m in self.models]
        _unique(ids, "models", "id")
        _unique([s.name for s in self.training], "training", "name")
        known = set(ids)
        produced: set[str] = set()
        for i, stage in enumerate(self.training):
            where = f"training.{stage.name}"
            if stage.output not in known:
                raise ValueError(f"{where}.output: {stage.output!r} is not a model id (models: {', '.join(ids)})")
            if stage.output in produced:
                raise ValueError(f"{where}.output: {stage.output!r} is produced by an earlier stage too")
            if stage.init in known and stage.init not in produced and self.model(stage.init).source is None:
                raise ValueError(f"{where}.init: {stage.init!r} is trained by no earlier stage and has no source")
            produced.add(stage.output)
        for m in self.models:
            if m.source is None and m.id not in produced:
                raise ValueError(f"models.{m.id}.source: required (no training stage outputs {m.id!r})")
            if m.parent is not None and m.parent not in known:
                raise ValueError(f"models.{m.id}.parent: {m.parent!r} is not a model id")
        for mid in self.serving.models:
            if mid not in known:
                raise ValueError(f"serving.models: {mid!r} is not a model id (models: {', '.join(ids)})")
        for mid in self.evaluation.models:
            if mid not in known:
                raise ValueError(f"evaluation.models: {mid!r} is not a model id")
        raters = {a.name: a for a in self.evaluation.autoraters}
        for a in raters.values():
            # Several judges are comma-separated (odcv-judge takes their median).
            for judge in (a.judge_model or "").split(",") if a.kind == "llm_judge" else []:
                if judge.strip() not in known:
                    raise ValueError(f"evaluation.autoraters.{a.name}.judge_model: {judge.strip()!r} is not a model id")
        for b in self.evaluation.benchmarks:
            for r in b.autoraters:
                if r not in raters:
                    raise ValueError(f"evaluation.benchmarks.{b.name}.autoraters: {r!r} is not in evaluation.autoraters")
        for a, b in self.analysis.comparisons:
            for mid in (a, b):
                if mid not in known:
                    raise ValueError(f"analysis.comparisons: {mid!r} is not a model id")
        self._check_families()
        return self

    def _check_families(self) -> None:
        """Lineage and training stay inside a family; every family has the stages the analysis compares; a
        comparison across families only when `analysis.cross_family` asks for it."""
        names = [f.name for f in self.families]
        _unique(names, "families", "name")
        family = {m.id: m.family for m in self.models}
        for m in self.models:
            if m.family is not None and m.family not in names:
                raise ValueError(f"models.{m.id}.family: {m.family!r} is not a family (families: {', '.join(names) or 'none'})")
            if names and m.family is None and m.role == "policy":
                raise ValueError(f"models.{m.id}.family: a study with families puts every policy model in one "
                                 f"(families: {', '.join(names)})")
            if m.parent is not None and family[m.parent] != m.family:
                raise ValueError(f"models.{m.id}.parent: {m.parent!r} is in family {family[m.parent]!r}, "
                                 f"{m.id!r} in {m.family!r} (lineage stays inside a family)")
        for stage in self.training:
            if stage.init in family and family[stage.init] != family[stage.output]:
                raise ValueError(f"training.{stage.name}.init: {stage.init!r} is in family {family[stage.init]!r}, "
                                 f"its output {stage.output!r} in {family[stage.output]!r}")
        if not self.analysis.cross_family:
            for a, b in self.analysis.comparisons:
                if family[a] != family[b]:
                    raise ValueError(f"analysis.comparisons: [{a}, {b}] compares family {family[a]!r} with "
                                     f"{family[b]!r}; set analysis.cross_family: true to ask for that")
        if not names:
            return  # one implicit family: the analysis compares whatever stages it has
        wanted = dict.fromkeys(s for pair in self.analysis.stage_comparisons for s in pair)
        if self.analysis.headline is not None:
            wanted |= dict.fromkeys(self.analysis.headline)
        for f in names:
            have = {m.stage for m in self.models if m.family == f}
            for stage in wanted:
                if stage not in have:
                    raise ValueError(f"families.{f}: no model of stage {stage!r}, which the analysis compares "
                                     f"(analysis.headline / analysis.stage_comparisons; its stages: "
                                     f"{', '.join(sorted(have))})")

    def family_of(self, model_id: str) -> str | None:
        return self.model(model_id).family

    def tiny_for(self, family: str | None) -> TinyModelConfig:
        """The random-init shape of a family's `init: tiny` stages."""
        spec = next((f for f in self.families if f.name == family), None)
        return spec.tiny if spec is not None and spec.tiny is not None else self.tiny

    # -- helpers the stages use -------------------------------------------------------------------------
    def model(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(model_id)

    def model_path(self, model_id: str) -> str:
        """Where a model's weights are: its source, or the folder its training stage writes."""
        m = self.model(model_id)
        if m.source is None:
            return str(self.output_dir / "models" / m.id)
        local = Path(m.source).expanduser()
        return str(local.absolute()) if local.exists() else m.source  # a hub id stays as it is

    def context(self) -> RunContext:
        """What the stages are handed with their own sections (`stagewise.core.context`)."""
        models = {m.id: ModelRef(path=self.model_path(m.id), stage=m.stage, role=m.role, trained=m.source is None,
                                 family=m.family) for m in self.models}
        return RunContext(study=self.name, output_dir=self.output_dir, seed=self.seed, wandb=self.wandb,
                          models=models)


def flatten_families(raw: dict[str, Any]) -> dict[str, Any]:
    """`families[].models` / `families[].training` moved into the study's `models` / `training`, each model
    tagged with its family; what is left of a family is its name and tiny shape. Idempotent (a dumped study
    has its families flattened already). A model id used twice across families fails here, naming both."""
    families = raw.get("families")
    if not isinstance(families, list) or not any(isinstance(f, dict) and (f.get("models") or f.get("training"))
                                                  for f in families):
        return raw
    raw = dict(raw)
    models = list(raw.get("models") or [])
    training = list(raw.get("training") or [])
    owner = {m.get("id"): "models" for m in models if isinstance(m, dict)}
    kept = []
    for f in families:
        if not isinstance(f, dict):
            kept.append(f)  # pydantic names the bad item
            continue
        f = dict(f)
        name = f.get("name")
        for m in f.pop("models", None) or []:
            if isinstance(m, dict):
                if m.get("id") in owner:
                    raise ValueError(f"families.{name}.models.{m.get('id')}: id also used in "
                                     f"{owner[m.get('id')]} (model ids are unique across families)")
                owner[m.get("id")] = f"families.{name}.models"
                if m.get("family") not in (None, name):
                    raise ValueError(f"families.{name}.models.{m.get('id')}.family: {m.get('family')!r} is not "
                                     f"{name!r}")
                m = {**m, "family": name}
            models.append(m)
        training.extend(f.pop("training", None) or [])
        kept.append(f)
    raw.update(families=kept, models=models, training=training)
    return raw


def _flattened(raw: dict[str, Any], source: str) -> dict[str, Any]:
    try:
        return flatten_families(raw)
    except ValueError as e:
        raise StagewiseError(f"{source}: {e}") from None


def _unique(values: list[str], section: str, field: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{section}: duplicate {field} {v!r}")
        seen.add(v)


# ---------------------------------------------------------------------------------------------------------
# Loading, overrides, one-line errors


def load_study(path: str | Path, overrides: list[str] | None = None) -> Study:
    path = Path(path)
    raw = _flattened(read_yaml(path), str(path))  # overrides address a family's models as the study's own
    for ov in overrides or []:
        apply_override(raw, ov, source=str(path))
    return validate_study(raw, source=str(path))


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StagewiseError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise StagewiseError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise StagewiseError(f"{path}:{where}: invalid YAML: {problem}") from None
    if raw is None:
        raise StagewiseError(f"{path}: empty config")
    if not isinstance(raw, dict):
        raise StagewiseError(f"{path}: top level must be a mapping of sections, got {type(raw).__name__}")
    return raw


def validate_study(raw: dict[str, Any], source: str = "<config>") -> Study:
    raw = _flattened(raw, source)  # error locations then point into the flattened models / training
    try:
        return Study.model_validate(raw)
    except ValidationError as e:
        raise StagewiseError(f"{source}: {validation_error_line(e, raw)}") from None


_NAMED_LISTS = {"models": "id", "training": "name", "benchmarks": "name", "autoraters": "name", "families": "name"}


def validation_error_line(e: ValidationError, raw: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """`field.path: why` for the first error; list items named by their name field (`training.sft.lr`).
    `prefix`: where the validated model sits in `raw` (a section validated on its own)."""
    err = e.errors()[0]
    loc = [*prefix, *err["loc"]]
    parts: list[str] = []
    node: Any = raw
    for i, key in enumerate(loc):
        if isinstance(key, int) and isinstance(node, list):
            item = node[key] if key < len(node) else None
            name_field = _NAMED_LISTS.get(str(loc[i - 1])) if i else None
            label = item.get(name_field) if isinstance(item, dict) and name_field else None
            parts.append(str(label) if isinstance(label, str) else f"[{key}]")
            node = item
        else:
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    field = ".".join(parts).replace(".[", "[")
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    if err["type"] == "missing":
        msg = "required field missing"
    return f"{field}: {msg}" if field else msg


def apply_override(raw: dict[str, Any], override: str, source: str = "<override>") -> None:
    """Apply one `dotted.key=value` override in place. Value is parsed as YAML (`3`, `true`, `[a, b]`).

    A list of named items (models, training, benchmarks, autoraters, families) is addressed by the item's name,
    e.g. `training.sft.max_steps=20` or `families.olmo.tiny.hidden_size=64`, or by index,
    `training.0.max_steps=20`. `load_study` flattens the families first: a family's models and stages are
    addressed as the study's own (`training.olmo-sft.max_steps=20`, `models.olmo-sft.source=...`).
    """
    if "=" not in override:
        raise StagewiseError(f"override {override!r}: expected key=value")
    key, _, text = override.partition("=")
    try:
        value = yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    if not all(parts):
        raise StagewiseError(f"override {override!r}: empty key segment")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        parent_key = parts[i - 1] if i else None
        if isinstance(node, list):
            idx = _list_index(node, part, _NAMED_LISTS.get(parent_key or ""))
            if idx is None:
                raise StagewiseError(f"override {override!r}: {'.'.join(parts[:i])} has no item {part!r}")
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise StagewiseError(f"override {override!r}: {'.'.join(parts[:i])} is not a section")


def _list_index(items: list[Any], part: str, name_field: str | None) -> int | None:
    if part.lstrip("-").isdigit():
        idx = int(part)
        return idx if -len(items) <= idx < len(items) else None
    for idx, item in enumerate(items):
        if isinstance(item, dict) and name_field and item.get(name_field) == part:
            return idx
    return None


def dump_study(study: Study) -> str:
    """The resolved config as YAML (saved with every study output so reruns and analysis can read it). A literal
    `serving.api_key` is left out: study.yaml is copied around with results; the key stays where it came from."""
    data = study.model_dump(mode="json")
    if data.get("serving", {}).get("api_key") is not None:
        data["serving"]["api_key"] = None
    return yaml.safe_dump(data, sort_keys=False)
