"""Training data for the recipe: trajectories tokenised once, on the driver, into the
output store; workers memory-map them and walk the curriculum plan.

`prepare_data` is idempotent: the tokenised set lives under `out`/data/<hash>/ where the
hash covers the trajectory bytes, the tokenizer and chat template, the masking rules,
max_length and the task; a rerun reuses it. Trajectories that cannot be tokenised are
counted in the funnel with their reason (and listed in report.json), never silently
dropped.

Files: examples.arrow (Arrow IPC: input_ids, labels, n_assistant_turns, instance_id,
label, masked_tokens) and report.json (what was read per format, the funnel, failures with
their reasons and the user's file and line, masked fractions per format and rule, the
curriculum schedule, and `console`: the summary printed on the console).
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from swelego_ray.funnel import Funnel
from swelego_ray.storage import Store, content_hash, parse_uri

if TYPE_CHECKING:
    from swelego_ray.sft.config import SFTConfig

logger = logging.getLogger(__name__)

EXAMPLES = "examples.arrow"
REPORT = "report.json"


class PreparedData(BaseModel):
    """Where the tokenised examples of a run live (passed to every worker)."""

    model_config = ConfigDict(extra="forbid")

    uri: str
    """Store URI of data/<hash>/."""
    run_hash: str
    """Hash of the data and every config field that shapes the step sequence."""
    n_examples: int
    report_uri: str
    settings: dict[str, Any] = {}
    """The settings `run_hash` covers (a resume names the ones that changed)."""


# -- driver side ---------------------------------------------------------------------------
Echo = Callable[[str], None]


def prepare_data(config: SFTConfig, echo: Echo | None = None) -> tuple[PreparedData, Funnel]:
    """Tokenise `config.data` into `config.out`/data/<hash>/ (or reuse it); `echo` gets
    the read / masking / tokenising summary (the console's)."""
    from swelego_ray.sft._runtime import child_uri, load_tokenizer

    echo = echo or logger.info
    files = read_data_files(config.data)
    with _tokenizer_dir(config.model) as tokenizer_dir:
        tokenizer = load_tokenizer(tokenizer_dir, config.chat_template)
    data_settings = {
        "data (file content)": _files_hash(files),
        "data_format": config.data_format,
        "model tokenizer / chat_template": _tokenizer_fingerprint(tokenizer),
        "task": config.task,
        "max_length": config.max_length,
        "masking": config.masking.model_dump(mode="json"),
        "verifier": config.verifier.model_dump(mode="json"),
    }
    key = content_hash("sft-data/2", data_settings)
    store = Store(child_uri(config.out, f"data/{key}"))
    settings = {
        **data_settings,
        "curriculum": config.curriculum.model_dump(mode="json"),
        "batch_size": config.batch_size,
        "grad_accum": config.grad_accum,
        "workers": config.workers,
        "seed": config.seed,
    }
    run_hash = content_hash(key, settings)
    funnel = Funnel(stage=f"sft-data:{config.task}")
    if store.exists(REPORT):
        report = store.read_json(REPORT)
        done = report["funnel"]
        funnel.seen, funnel.kept, funnel.skipped_cached = done["in"], done["out"], done["out"]
        funnel.dropped.update(done["dropped"])
        echo(f"reusing tokenised data {store.uri} ({report['examples']} examples)")
    else:
        report = _tokenise_to_store(files, config, tokenizer, store, funnel)
    echo(report.get("console", ""))
    if funnel.kept == 0:
        from swelego_ray.sft._runtime import SFTInputError

        raise SFTInputError(
            f"data={config.data}: no trainable example; details in {store.uri_of(REPORT)}\n"
            + report.get("console", funnel.render())
        )
    prepared = PreparedData(
        uri=store.uri,
        run_hash=run_hash,
        n_examples=funnel.kept,
        report_uri=store.uri_of(REPORT),
        settings=settings,
    )
    return prepared, funnel


def _tokenise_to_store(
    files: list[tuple[str, bytes]], config: SFTConfig, tokenizer: Any, store: Store, funnel: Funnel
) -> dict[str, Any]:
    """Read, mask (policy) or build judge samples (verifier), tokenise, write the Arrow file."""
    from swelego_ray.sft.curriculum import CurriculumSchedule

    trajectories, failures, read = _read_trajectories(files, config, funnel)
    examples, masking, masking_text = _examples(trajectories, config, tokenizer, funnel, failures)
    columns: dict[str, list] = {name: [] for name in _SCHEMA.names}
    for ex in examples:
        columns["input_ids"].append(ex.input_ids)
        columns["labels"].append(ex.labels)
        columns["n_assistant_turns"].append(ex.n_assistant_turns)
        columns["instance_id"].append(ex.instance_id)
        columns["label"].append(ex.label)
        columns["masked_tokens"].append(ex.n_masked_tokens)
    table = pa.table(columns, schema=_SCHEMA)
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, _SCHEMA) as writer:
        writer.write_table(table)
    store.write_bytes(EXAMPLES, sink.getvalue())
    schedule = CurriculumSchedule.build(difficulties(table, config), config.curriculum)
    for reason, n in schedule.dropped.items():  # tokenised, but in no curriculum stage
        funnel.kept -= n
        funnel.dropped[f"curriculum_{reason}"] += n
    console = [read.render(config.data), masking_text, _tokenise_line(examples, funnel),
               schedule.render()]  # fmt: skip
    report = {
        "read": read.by_format(),
        "examples": table.num_rows,
        "trained_examples": funnel.kept,
        "tokens": sum(len(x) for x in columns["input_ids"]),
        "loss_tokens": sum(sum(t != -100 for t in x) for x in columns["labels"]),
        "funnel": funnel.as_dict(),
        "failures": failures,
        "masking": masking,
        "curriculum": schedule.render(),
        "console": "\n".join(line for line in console if line),
    }
    store.write_json(REPORT, report)  # last: its presence marks the set complete
    return report


_SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("labels", pa.list_(pa.int32())),
        ("n_assistant_turns", pa.int32()),
        ("instance_id", pa.string()),
        ("label", pa.string()),
        ("masked_tokens", pa.int32()),
    ]
)


def _tokenise_line(examples: list, funnel: Funnel) -> str:
    truncated = sum(ex.truncated for ex in examples)
    line = f"[tokenise] {len(examples)} examples ({truncated} lost trailing turns to max_length)"
    drops = {r: n for r, n in funnel.dropped.items() if n}
    return line + (f", dropped {drops}" if drops else "")


def _read_trajectories(
    files: list[tuple[str, bytes]], config: SFTConfig, funnel: Funnel
) -> tuple[list, list, Any]:
    """Read the user's files (rows located by their own paths), recording unreadable rows."""
    from swelego_ray.schema import ReadResult, read_trajectory_bytes

    result = ReadResult()
    for name, raw in files:
        one = read_trajectory_bytes(raw, name, config.data_format)
        result.trajectories.extend(one.trajectories)
        result.errors.extend(one.errors)
    failures = []
    for err in result.errors:
        funnel.drop(f"unreadable:{err.reason}")
        failures.append({"instance_id": err.instance_id, "reason": err.reason,
                         "format": err.format, "detail": err.error})  # fmt: skip
    return result.trajectories, failures, result


def _examples(
    trajectories: list, config: SFTConfig, tokenizer: Any, funnel: Funnel, failures: list[dict]
) -> tuple[list, dict[str, Any], str]:
    """SFTExamples: error-masked agent turns (policy) or judge answers (verifier)."""
    from swelego_ray.sft.tokenize import tokenize_many

    masking: dict[str, Any] = {}
    text = ""
    if config.task == "policy":
        from swelego_ray.sft.prepare import prepare_sft_examples

        prepared = prepare_sft_examples(
            trajectories,
            tokenizer,
            max_length=config.max_length,
            masking=config.masking,
            dataset=None,  # one row per source format
        )
        examples, tok_funnel, errors = prepared.examples, prepared.funnel, prepared.failures
        report = prepared.masking
        masking = {
            "masked_turn_fraction": report.masked_fraction(),
            "masked_token_fraction": prepared.masked_token_fraction(),
            **report.model_dump(),
        }
        text = report.render() + (
            f"\n[masking] all: {report.masked_fraction():.1%} of assistant turns, "
            f"{prepared.masked_token_fraction():.1%} of assistant tokens masked "
            "(the plot's masked_fraction)"
        )
    else:
        from swelego_ray.sft.verifier_data import VerifierTokenizer

        judge = VerifierTokenizer(tokenizer, config.verifier)
        examples, tok_funnel, errors = tokenize_many(trajectories, judge, stage="verifier")
    funnel.merge(tok_funnel)
    failures += [{"instance_id": iid, "reason": "tokenize", "detail": e} for iid, e in errors]
    return examples, masking, text


def token_lengths(table: pa.Table) -> list[int]:
    """Sequence lengths without materialising the token lists."""
    import pyarrow.compute as pc

    return pc.list_value_length(table.column("input_ids")).to_pylist()


def difficulties(table: pa.Table, config: SFTConfig) -> list[float]:
    """The curriculum feature of each example (assistant turns, or tokens)."""
    if config.curriculum.feature == "tokens":
        return [float(n) for n in token_lengths(table)]
    return [float(x) for x in table.column("n_assistant_turns").to_pylist()]


DATA_SUFFIXES = (".jsonl", ".json", ".parquet")
"""The files a local `data` directory contributes (sorted by name, not recursive)."""


def data_files_in(directory: Path) -> list[Path]:
    """The trajectory files of a local directory (sorted by name)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES)


def read_data_files(uri: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of the trajectory file at `uri`, or of every file of a local directory."""
    p = parse_uri(uri)
    if p.is_local and Path(p.root).is_dir():
        return [(str(f), f.read_bytes()) for f in data_files_in(Path(p.root))]
    return [(uri, _read_bytes(uri))]


def _files_hash(files: list[tuple[str, bytes]]) -> str:
    """One file: the hash of its content (as before); a directory: of names and contents."""
    if len(files) == 1:
        return content_hash(files[0][1].hex())
    return content_hash([(Path(name).name, content_hash(raw.hex())) for name, raw in files])


def _read_bytes(uri: str) -> bytes:
    p = parse_uri(uri)
    if p.is_local:
        path = Path(p.root)
        if not path.is_file():
            raise ValueError(f"data={uri}: no such file")
        return path.read_bytes()
    parent, _, name = p.root.rpartition("/")
    try:
        return Store(p.with_root(parent)).read_bytes(name)
    except KeyError:
        raise ValueError(f"data={uri}: no such object") from None


@contextmanager
def _tokenizer_dir(model: str) -> Iterator[Path]:
    """The model's tokenizer files on this machine (s3: tokenizer files only, in a
    temporary directory removed on exit)."""
    p = parse_uri(model)
    if p.is_local:
        yield Path(p.root)
        return
    store = Store(model)
    with tempfile.TemporaryDirectory(prefix="swelego-tokenizer-") as tmp:
        for key in store.list(""):
            if "/" not in key and not key.endswith((".safetensors", ".bin", ".pt", ".gguf")):
                (Path(tmp) / key).write_bytes(store.read_bytes(key))
        yield Path(tmp)


def _tokenizer_fingerprint(tokenizer: Any) -> str:
    return content_hash(
        json.loads(tokenizer.backend_tokenizer.to_str()) if hasattr(tokenizer, "backend_tokenizer")
        else sorted(tokenizer.get_vocab().items()),
        tokenizer.chat_template,
    )  # fmt: skip


# -- worker side ---------------------------------------------------------------------------
class TokenizedData:
    """The examples of a run, memory-mapped from a local Arrow IPC file."""

    def __init__(self, path: Path) -> None:
        self._source = pa.memory_map(str(path))
        self.table = pa.ipc.open_file(self._source).read_all()
        self._ids = self.table.column("input_ids")
        self._labels = self.table.column("labels")

    def __len__(self) -> int:
        return self.table.num_rows

    def lengths(self) -> list[int]:
        return token_lengths(self.table)

    def column(self, name: str) -> list:
        return self.table.column(name).to_pylist()

    def rows(self, indices: list[int]) -> list[tuple[list[int], list[int]]]:
        return [(self._ids[i].as_py(), self._labels[i].as_py()) for i in indices]

    def masked_tokens(self, indices: list[int]) -> int:
        """Assistant tokens of masked turns in these examples (no loss, in the context)."""
        column = self.table.column("masked_tokens")
        return sum(column[i].as_py() for i in indices)


def open_prepared(prepared: PreparedData) -> TokenizedData:
    """Open the tokenised examples (downloaded once per process from an s3 store; the
    memory mapping outlives the downloaded file, which is removed at once)."""
    store = Store(prepared.uri)
    if store.is_local:
        return TokenizedData(Path(store.path(EXAMPLES)))
    with tempfile.TemporaryDirectory(prefix="swelego-data-") as tmp:
        local = Path(tmp) / EXAMPLES
        local.write_bytes(store.read_bytes(EXAMPLES))
        return TokenizedData(local)


@dataclass
class StepWork:
    """The micro-batches (example indices) this rank runs for one optimizer step."""

    stage: int
    stage_name: str
    epoch: int
    micro_batches: list[list[int]]


class StagePlan:
    """The curriculum as a sequence of optimizer steps for one rank; resumable."""

    def __init__(self, sampler: Any, grad_accum: int) -> None:
        self.sampler = sampler
        self.grad_accum = grad_accum
        self.stage_names: list[str] = list(sampler.stage_names)
        per_stage = [0] * len(self.stage_names)
        for stage, _epoch, n_batches in sampler.batches_per_epoch():
            per_stage[stage] += n_batches // grad_accum
        self.total_steps = sum(per_stage)
        ends, acc = set(), 0
        for n in per_stage:
            acc += n
            if n:
                ends.add(acc)
        self.stage_end_steps: set[int] = ends
        """Global step numbers that close a curriculum stage (checkpointed)."""

    def steps(self) -> Iterator[StepWork]:
        pending: list[list[int]] = []
        for mb in self.sampler:
            pending.append(mb.indices)
            if len(pending) == self.grad_accum:
                yield StepWork(mb.stage, mb.stage_name, mb.epoch, pending)
                pending = []
            if mb.last_of_epoch:
                pending = []  # a partial step at an epoch's end is dropped on every rank

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state)


def stage_plan(data: TokenizedData, config: SFTConfig, *, rank: int, world_size: int) -> StagePlan:
    """This rank's curriculum plan (the data side's CurriculumSampler, length-grouped)."""
    from swelego_ray.sft.curriculum import CurriculumSampler, CurriculumSchedule

    schedule = CurriculumSchedule.build(difficulties(data.table, config), config.curriculum)
    sampler = CurriculumSampler(
        data.lengths(),
        schedule,
        rank=rank,
        world_size=world_size,
        seed=config.seed,
        batch_size=config.batch_size,
        grad_accum=config.grad_accum,
    )
    return StagePlan(sampler, config.grad_accum)
