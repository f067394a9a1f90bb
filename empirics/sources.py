"""Where evaluation data comes from: the embedded sets, a local directory, or the Hugging Face Hub.

One setting, ``--data``, picks the source (:data:`SOURCES`); :func:`resolve_source` turns the
flags and ``$STEERING_DATA_DIR`` into a :class:`DataSource`. Every file a loader reads is recorded
with its SHA-256 in the source's :class:`Provenance`, which the report renders. Loaders (in
``empirics.data``) accept a ``DataSource`` or, as before, a directory path.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ENV_VAR = "STEERING_DATA_DIR"
SOURCES = ("embedded", "dir", "hub")
FIX_COMMAND = "python -m empirics.validate --data embedded"
SOURCES_HELP = (
    "Data sources (--data): 'embedded' (the default: sets that ship with the package, need "
    "nothing), 'dir' (a local folder of the upstream benchmark files, given by --data-dir PATH "
    f"or ${ENV_VAR}; layout in docs/data.md), 'hub' (the Hugging Face Hub through the "
    "'datasets' package: pip install datasets)."
)

# Hugging Face dataset ids per benchmark. Not checked from here (no hub access): see docs/data.md.
HUB_IDS: dict[str, str] = {
    "mmlu": "cais/mmlu",
    "advbench": "walledai/AdvBench",
    "stereoset": "McGill-NLP/stereoset",
    "instructions": "justinphan3110/harmful_harmless_instructions",
    "arc": "allenai/ai2_arc",
}


def data_error_message(problem: str, fix: str = FIX_COMMAND) -> str:
    """``problem``, the three sources, and the one command that fixes it."""
    return f"{problem} {SOURCES_HELP} Fix: {fix}"


class DataUnavailable(FileNotFoundError):
    """A data set or file the chosen source does not have (the message says how to fix it)."""


@dataclass(frozen=True)
class FileRecord:
    """One file read: its name relative to the source and its SHA-256."""

    name: str
    sha256: str
    size: int


@dataclass
class Provenance:
    """Which source and which files (with SHA-256) a run used; the report renders it."""

    source: str            # "embedded" | "dir" | "hub"
    location: str          # package resource, directory, or hub (or its local mirror)
    files: list[FileRecord] = field(default_factory=list)

    def add(self, name: str, content: bytes) -> None:
        if any(f.name == name for f in self.files):
            return
        self.files.append(FileRecord(name, hashlib.sha256(content).hexdigest(), len(content)))

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "location": self.location,
                "files": [{"name": f.name, "sha256": f.sha256, "size": f.size}
                          for f in sorted(self.files, key=lambda f: f.name)]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`as_dict` (the report keeps the dict form)."""
        files = [FileRecord(str(f["name"]), str(f["sha256"]), int(f["size"]))
                 for f in d.get("files", [])]
        return cls(str(d["source"]), str(d["location"]), files)

    def markdown(self) -> str:
        lines = [f"Data source: **{self.source}** ({self.location})", "",
                 "| file | sha256 | bytes |", "|---|---|---|"]
        lines += [f"| {f.name} | `{f.sha256}` | {f.size} |"
                  for f in sorted(self.files, key=lambda f: f.name)]
        return "\n".join(lines)


@dataclass
class DataSource:
    """A resolved data source. ``path``: the directory (``dir``) or an optional local copy of
    hub repositories laid out as on the hub (``hub``; ``<root>/<owner>/<name>/...``)."""

    kind: str
    path: Path | None = None
    provenance: Provenance = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in SOURCES:
            raise ValueError(data_error_message(f"--data {self.kind!r} is not a data source."))
        if self.kind == "dir" and self.path is None:
            raise ValueError(data_error_message("--data dir needs a directory."))
        location = {"embedded": "package data empirics/datasets",
                    "dir": str(self.path),
                    "hub": str(self.path) if self.path else "huggingface.co"}[self.kind]
        self.provenance = Provenance(self.kind, location)

    # ------------------------------------------------------------------ files

    def read_bytes(self, *parts: str) -> bytes:
        """A file of the embedded data or the directory, recorded in the provenance."""
        name = "/".join(parts)
        if self.kind == "embedded":
            res = resources.files("empirics").joinpath("datasets", *parts)
            if not res.is_file():
                raise DataUnavailable(data_error_message(
                    f"the embedded data has no {name!r} (a broken install?).",
                    "pip install --force-reinstall steering-tradeoffs"))
            content = res.read_bytes()
        elif self.kind == "dir":
            assert self.path is not None
            path = self.path.joinpath(*parts)
            if not path.is_file():
                raise DataUnavailable(data_error_message(
                    f"data file {name} not found in the data directory {self.path} "
                    f"(--data dir, from --data-dir or ${ENV_VAR}; layout in docs/data.md).",
                    f"{FIX_COMMAND}   (or put the upstream file at {path})"))
            content = path.read_bytes()
        else:
            raise DataUnavailable(data_error_message(f"--data hub has no file {name!r}."))
        self.provenance.add(name, content)
        return content

    def read_text(self, *parts: str, encoding: str = "utf-8") -> str:
        return self.read_bytes(*parts).decode(encoding)

    def glob(self, folder: str, pattern: str) -> list[str]:
        """File names under ``folder`` of the directory matching ``pattern`` (sorted)."""
        if self.kind != "dir" or self.path is None:
            return []
        return sorted(p.name for p in (self.path / folder).glob(pattern) if p.is_file())

    # ------------------------------------------------------------------ hub

    def hub_rows(self, dataset: str, config: str | None, split: str) -> list[dict[str, Any]]:
        """Rows of a hub data set (``datasets.load_dataset(dataset, config, split=split)``), or
        of a local copy in the hub's layout when ``path`` is set; files recorded."""
        if self.kind != "hub":
            raise ValueError(f"hub_rows on a {self.kind!r} source")
        if self.path is not None:
            return self._local_hub_rows(dataset, config, split)
        try:
            import datasets  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError as err:
            raise DataUnavailable(data_error_message(
                "--data hub needs the Hugging Face 'datasets' package, which is not installed.",
                "pip install datasets   (or: " + FIX_COMMAND + ")")) from err
        try:
            ds = datasets.load_dataset(dataset, config, split=split)
        except Exception as err:  # network, auth, unknown config: all end here
            raise DataUnavailable(data_error_message(
                f"--data hub could not load {dataset} (config {config}, split {split}): {err}"
            )) from err
        for entry in getattr(ds, "cache_files", []) or []:
            fname = Path(str(entry.get("filename", "")))
            if fname.is_file():
                self.provenance.add(f"{dataset}/{config or ''}/{split}/{fname.name}",
                                    fname.read_bytes())
        return [dict(r) for r in ds]

    def _local_hub_rows(self, dataset: str, config: str | None, split: str) -> list[dict[str, Any]]:
        assert self.path is not None
        root = self.path / dataset
        folder = root / config if config else root / "data"
        files = sorted(folder.glob(f"{split}-*.jsonl")) + sorted(folder.glob(f"{split}.jsonl"))
        if not files:
            raise DataUnavailable(data_error_message(
                f"no {split}-*.jsonl of {dataset} (config {config}) in the local hub copy {folder}."))
        rows: list[dict[str, Any]] = []
        for f in files:
            content = f.read_bytes()
            self.provenance.add(str(f.relative_to(self.path)), content)
            rows += [json.loads(line) for line in content.decode("utf-8").splitlines()
                     if line.strip()]
        return rows


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit`` if given, else ``$STEERING_DATA_DIR``; the directory must exist."""
    if explicit is not None and str(explicit) != "":
        path, origin = Path(explicit), "--data-dir"
    else:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise ValueError(data_error_message(
                f"--data dir needs a data directory: pass --data-dir PATH or set ${ENV_VAR}."))
        path, origin = Path(env), f"${ENV_VAR}"
    if not path.is_dir():
        raise FileNotFoundError(data_error_message(
            f"data directory {path} (from {origin}) does not exist or is not a directory."))
    return path


def resolve_source(data: str | None = None, data_dir: str | Path | None = None) -> DataSource:
    """The source for ``--data`` / ``--data-dir``: ``--data`` wins; without it a directory
    (``--data-dir`` or ``$STEERING_DATA_DIR``) means ``dir``, and nothing means ``embedded``."""
    if data is None or data == "":
        given = (data_dir is not None and str(data_dir) != "") or bool(os.environ.get(ENV_VAR))
        data = "dir" if given else "embedded"
    if data == "embedded":
        return DataSource("embedded")
    if data == "dir":
        return DataSource("dir", resolve_data_dir(data_dir))
    if data == "hub":
        return DataSource("hub", Path(data_dir) if data_dir else None)
    raise ValueError(data_error_message(f"--data {data!r} is not one of {', '.join(SOURCES)}."))


def as_source(source: DataSource | str | Path | None) -> DataSource:
    """A ``DataSource`` as is; a path (the old ``data_dir`` argument) as a ``dir`` source;
    ``None`` as :func:`resolve_source` with no flags."""
    if isinstance(source, DataSource):
        return source
    if source is None:
        return resolve_source()
    return DataSource("dir", resolve_data_dir(source))


def jsonl_rows(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} must be one of {list(allowed)}")


def require_rows(rows: list, what: str, where: str) -> list:  # type: ignore[type-arg]
    if not rows:
        raise ValueError(f"{what}: no usable rows in {where}")
    return rows


def row_str(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return value.strip() if isinstance(value, str) else ""
