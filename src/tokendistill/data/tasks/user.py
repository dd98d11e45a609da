"""The ``jsonl`` task: a user's own data in JSON Lines or CSV files, one file per split.

Example: ``get_task("jsonl", input_fields=["premise", "hypothesis"], target_field="label",
files={"train": "a.jsonl", "test": "b.csv"})``. Several input fields are joined with a template separator
(``"</s>"`` by default, as DSS joins premise and hypothesis), which is never a rationale candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tokendistill.data.errors import DataError, TaskError
from tokendistill.data.example import Example, Segment, own, template
from tokendistill.data.io import Row, collect_examples, detect_format, iter_rows
from tokendistill.data.tasks.base import SPLITS, Task, check_split, register_task


@register_task("jsonl")
class UserTask(Task):
    """Examples from ``files`` (split -> path; ``.jsonl``, ``.csv``, optionally ``.gz``).

    ``id_field`` names a unique id column (default: ``"<split>-<line>"``). ``labels``, when given, is the
    closed set of allowed targets; any other target is a bad row. JSON integer targets are turned into
    their decimal text (``1`` -> ``"1"``); other non-text targets are bad rows. Relative paths are read
    from ``data_dir`` when ``load`` is given one, else from the working directory.
    """

    def __init__(
        self,
        input_fields: Sequence[str] | str,
        target_field: str,
        files: Mapping[str, str | Path],
        id_field: str | None = None,
        labels: Sequence[str] | None = None,
        separator: str = "</s>",
    ) -> None:
        super().__init__()
        self.input_fields = [input_fields] if isinstance(input_fields, str) else list(input_fields)
        if not self.input_fields:
            raise TaskError("jsonl task: input_fields must name at least one field")
        unknown = sorted(set(files) - set(SPLITS))
        if unknown:
            raise TaskError(f"jsonl task: unknown split names {unknown} in files; use {', '.join(SPLITS)}")
        self.files = {split: Path(path) for split, path in files.items()}
        for path in self.files.values():
            try:
                detect_format(path)  # an unsupported extension fails now, not at the first load
            except DataError:
                if path.is_dir():
                    raise DataError(
                        path, None, None, "is a folder; files maps each split to one file"
                    ) from None
                raise
        self.target_field = target_field
        self.id_field = id_field
        self.labels = None if labels is None else tuple(labels)
        self.separator = separator

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        check_split(split)
        if split not in self.files:
            raise TaskError(f"jsonl task: no file given for split {split!r} (files: {', '.join(self.files)})")
        path = self.files[split]
        if data_dir is not None and not path.is_absolute():
            path = Path(data_dir) / path
        examples, self.last_skipped = collect_examples(
            iter_rows(path),
            lambda row: self.example(row, split),
            skip_bad_rows=skip_bad_rows,
            id_field=self.id_field,
        )
        return examples

    def example(self, row: Row, split: str) -> Example:
        segments: list[Segment] = []
        for index, field in enumerate(self.input_fields):
            if index:
                segments.append(template(self.separator))
            segments.append(own(row.text(field)))
        return Example(
            id=row.text(self.id_field) if self.id_field else f"{split}-{row.line}",
            segments=tuple(segments),
            target=self.target(row),
        )

    def target(self, row: Row) -> str:
        value = row.value(self.target_field)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise row.error(self.target_field, f"expected text or an integer, got {type(value).__name__}")
        if not value.strip():
            raise row.error(self.target_field, "empty text")
        if self.labels is not None and value not in self.labels:
            raise row.error(
                self.target_field, f"unknown label {value!r}; expected one of {', '.join(self.labels)}"
            )
        return value
