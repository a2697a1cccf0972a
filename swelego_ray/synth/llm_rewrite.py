"""Strategy `llm`: a model re-implements a function ("rewrite") or plants a subtle bug in it
("bug"); the answer is spliced back with libcst, keeping the signature and docstring.

    result = rewrite_function(client, source, "Stack.push", Variant.BUG, path="calc/stack.py")
    result.new_text or result.reject   # the new module text, or why the answer was rejected

Answers are untrusted text: they are parsed, never run here (validation runs them in
sandboxes). Rejections are named (`Reject`), so the funnel shows why each attempt failed.
Prompts are files in swelego_ray/synth/prompts/. Importing this module registers the
strategy (`--strategies llm`); its settings are `cfg.options["llm"]` (`LLMSynthOptions`).
"""

from __future__ import annotations

import ast
import logging
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import jinja2
import libcst as cst
from pydantic import BaseModel, ConfigDict, Field, model_validator

from swelego_ray.llm import (
    ContextTooLong,
    LLMClient,
    LLMConfig,
    LLMError,
    Message,
    SamplingSettings,
)
from swelego_ray.llm.batch import RayDataLLMConfig, generate_batch
from swelego_ray.schema import Provenance
from swelego_ray.storage import content_hash
from swelego_ray.synth.candidates import Candidate, Features, Origin
from swelego_ray.synth.diffs import changed_line_count, diff_hash, file_diff
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.repos import RepoSnapshot
from swelego_ray.synth.strategies import register_strategy
from swelego_ray.synth.targets import Target, find_function, find_targets
from swelego_ray.synth.transforms import is_docstring

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

logger = logging.getLogger(__name__)

STRATEGY = "llm"
MAX_CONTEXT_CHARS = 12_000  # a longer module is shown as its imports and the stub


class Variant(StrEnum):
    """What the model is asked to do with the function."""

    REWRITE = "rewrite"  # re-implement from signature + docstring (often subtly wrong)
    BUG = "bug"  # introduce a subtle bug


class Reject(StrEnum):
    """Why an answer gives no candidate (funnel drop reasons)."""

    NO_CODE = "no_code"  # no Python code in the answer
    UNPARSABLE = "unparsable"  # the code, or the file with it spliced in, does not parse
    MISSING_FUNCTION = "missing_function"  # code, but no function of the target's name
    SIGNATURE_CHANGED = "signature_changed"
    IDENTICAL = "identical"  # same code as the original (formatting and comments aside)
    TARGET_NOT_FOUND = "target_not_found"  # the qualified name is not in the source
    PROMPT_TOO_LONG = "prompt_too_long"  # over the served model's context window
    LLM_ERROR = "llm_error"  # the request failed otherwise (detail: the error)


@dataclass(frozen=True)
class Spliced:
    """The module with the new function body, or why not."""

    new_text: str | None
    reject: Reject | None = None
    detail: str = ""


@dataclass(frozen=True)
class RewriteResult:
    """One attempt: the new file text or the reason it was rejected, and its cost."""

    qualname: str
    variant: Variant
    new_text: str | None
    reject: Reject | None
    detail: str = ""
    answer: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.new_text is not None


# -- prompts ----------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    folder = resources.files("swelego_ray.synth") / "prompts"
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (folder / name).read_text()),
        undefined=jinja2.StrictUndefined,  # a missing variable is an error, not ""
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_prompt(name: str, **variables: Any) -> str:
    """Prompt file `name` of swelego_ray/synth/prompts (.jinja rendered, .txt as is)."""
    if name.endswith(".txt"):
        return (resources.files("swelego_ray.synth") / "prompts" / name).read_text().strip()
    return _environment().get_template(name).render(**variables).strip()


def rewrite_messages(variant: Variant, source: str, qualname: str, path: str) -> list[Message]:
    """The chat for one attempt; ValueError when `qualname` is not a function of `source`."""
    module = cst.parse_module(source)
    func = find_function(module, qualname)
    if func is None:
        raise ValueError(f"{path}: no function {qualname!r}")
    if variant is Variant.BUG:
        user = render_prompt(
            "rewrite_bug.jinja", path=path, qualname=qualname, function=_code(module, func)
        )
    else:
        stub = _stub(func)
        context = module.deep_replace(func, stub).code  # type: ignore[union-attr]
        if len(context) > MAX_CONTEXT_CHARS:  # a big module: its imports and the stub
            imports = [s for s in module.body if _is_import(s)]
            context = "".join(module.code_for_node(s) for s in imports) + "\n# ...\n\n"
            context += _code(module, stub)
        user = render_prompt(
            "rewrite_rewrite.jinja",
            path=path,
            qualname=qualname,
            context=context,
            stub=_code(module, stub),
        )
    return [
        {"role": "system", "content": render_prompt("rewrite_system.txt")},
        {"role": "user", "content": user},
    ]


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
    )


def _stub(func: cst.FunctionDef) -> cst.FunctionDef:
    """The function with its body cut to its docstring (if any) and `...`."""
    kept = [s for s in _body(func)[:1] if is_docstring(s)]
    ellipsis = cst.SimpleStatementLine([cst.Expr(cst.Ellipsis())])
    return func.with_changes(body=cst.IndentedBlock(body=[*kept, ellipsis]))


# -- parsing and splicing ---------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)


def extract_code(answer: str, name: str = "") -> str | None:
    """The Python code of an answer: the fenced block defining `name` (else the first
    python or untagged block), else the whole answer when it parses and defines a
    function; None when there is no code. Thinking blocks are ignored."""
    text = _THINK.sub("", answer).strip()
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    code_blocks = [b for lang, b in blocks if lang in ("", "python", "py", "python3")]
    for body in code_blocks:
        if name and re.search(rf"\bdef\s+{re.escape(name)}\s*\(", body):
            return body.strip("\n")
    if code_blocks:
        return code_blocks[0].strip("\n") or None
    if re.search(r"^\s*(async\s+)?def\s+\w+\s*\(", text, re.MULTILINE):
        return text
    return None


def splice(source: str, qualname: str, code: str) -> Spliced:
    """`source` with the body of `qualname` taken from the function of that name in
    `code`; signature, decorators and docstring stay the original's."""
    module = _parse(source)
    old = find_function(module, qualname) if module is not None else None
    if module is None or old is None:
        return Spliced(None, Reject.TARGET_NOT_FOUND, f"no function {qualname!r} in the source")
    answer = _parse(code)
    if answer is None:
        return Spliced(None, Reject.UNPARSABLE, "the answer's code does not parse")
    new = _find_named(answer, qualname.rsplit(".", 1)[-1])
    if new is None:
        return Spliced(None, Reject.MISSING_FUNCTION, f"no `def {qualname.rsplit('.', 1)[-1]}`")
    old_sig, new_sig = _signature(module, old), _signature(answer, new)
    if old_sig != new_sig:
        return Spliced(None, Reject.SIGNATURE_CHANGED, f"{_def_line(old)} -> {_def_line(new)}")
    body = [s for s in _body(new) if not (s is _body(new)[0] and is_docstring(s))]
    docstring = [s for s in _body(old)[:1] if is_docstring(s)]
    if not body:
        return Spliced(None, Reject.NO_CODE, "the function has no body besides a docstring")
    merged = old.with_changes(body=cst.IndentedBlock(body=[*docstring, *body]))
    if _same_code(_code(module, old), _code(module, merged)):
        return Spliced(None, Reject.IDENTICAL, "same code as the original")
    text = module.deep_replace(old, merged).code  # type: ignore[union-attr]
    try:
        compile(text, "<spliced>", "exec", dont_inherit=True)  # compiles; runs nothing
    except (SyntaxError, ValueError) as exc:
        return Spliced(None, Reject.UNPARSABLE, f"the spliced file does not compile: {exc}")
    return Spliced(text)


def _parse(text: str) -> cst.Module | None:
    try:
        return cst.parse_module(text)
    except (cst.ParserSyntaxError, ValueError, RecursionError):
        return None


def _find_named(module: cst.Module, name: str) -> cst.FunctionDef | None:
    """The first function called `name` anywhere in the module (a model may wrap a method
    in its class, or answer with the bare function)."""
    found: list[cst.FunctionDef] = []

    class Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            if node.name.value == name and not found:
                found.append(node)
            return not found

    module.visit(Finder())
    return found[0] if found else None


def _body(func: cst.FunctionDef) -> list[cst.BaseStatement]:
    if isinstance(func.body, cst.IndentedBlock):
        return list(func.body.body)
    return [cst.SimpleStatementLine(body=func.body.body)]  # `def f(x): return x`


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node)


def _signature(module: cst.Module, func: cst.FunctionDef) -> str:
    """The function's name, parameters, annotations and async-ness, formatting aside."""
    bare = _stub(func).with_changes(
        body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Expr(cst.Ellipsis())])]),
        decorators=(),
        leading_lines=(),
    )
    return ast.dump(ast.parse(_code(module, bare)))


def _def_line(func: cst.FunctionDef) -> str:
    line = cst.Module([]).code_for_node(func.with_changes(decorators=(), leading_lines=()))
    return line.split(":\n", 1)[0].strip()[:200]


def _same_code(a: str, b: str) -> bool:
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return a == b


# -- one attempt ------------------------------------------------------------------------


def rewrite_function(
    client: LLMClient,
    source: str,
    qualname: str,
    variant: Variant | str = Variant.BUG,
    *,
    path: str = "module.py",
    **sampling: Any,
) -> RewriteResult:
    """Ask the model for a new `qualname` in `source`; the new file text or a named reject.
    A failed request is a rejection (LLM_ERROR) too: this never raises for the answer."""
    variant = Variant(variant)
    try:
        messages = rewrite_messages(variant, source, qualname, path)
    except (ValueError, cst.ParserSyntaxError) as exc:
        return RewriteResult(qualname, variant, None, Reject.TARGET_NOT_FOUND, str(exc))
    try:
        answer = client.chat(messages, **sampling)
    except LLMError as exc:
        reject = Reject.PROMPT_TOO_LONG if isinstance(exc, ContextTooLong) else Reject.LLM_ERROR
        return RewriteResult(qualname, variant, None, reject, f"{type(exc).__name__}: {exc}")
    return judge_rewrite(
        source, qualname, variant, answer.text, answer.prompt_tokens, answer.completion_tokens
    )


def judge_rewrite(
    source: str,
    qualname: str,
    variant: Variant | str,
    answer: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> RewriteResult:
    """The result of one answer, however it was obtained (client or batch inference)."""
    variant = Variant(variant)
    tokens = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    code = extract_code(answer, qualname.rsplit(".", 1)[-1])
    if code is None:
        return RewriteResult(qualname, variant, None, Reject.NO_CODE, "", answer, **tokens)
    spliced = splice(source, qualname, code)
    return RewriteResult(
        qualname, variant, spliced.new_text, spliced.reject, spliced.detail, answer, **tokens
    )


# -- the strategy -----------------------------------------------------------------------


class LLMSynthOptions(BaseModel):
    """`cfg.options["llm"]`: the endpoint and how to ask it (rewrites and statements)."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["server", "ray_data"] = "server"
    """`server`: requests to `url` through the client; `ray_data`: batch inference with
    vLLM inside the job (ray.data.llm), configured by `ray_data`."""
    url: str = ""
    """OpenAI-compatible root, e.g. http://127.0.0.1:8000/v1 (engine `server`)."""
    ray_data: RayDataLLMConfig | None = None
    """The engines of `ray_data` (its temperature and max_tokens are the ones below)."""
    model: str = ""
    """Served model name; empty = the endpoint's only model."""
    api_key: str = "EMPTY"
    variants: list[Variant] = Field(default_factory=lambda: [Variant.BUG, Variant.REWRITE])
    """Alternated over the targets, in this order."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=16)
    max_concurrency: int = Field(4, ge=1)
    timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(3, ge=0)

    @model_validator(mode="after")
    def _engine(self) -> LLMSynthOptions:
        if self.engine == "server" and not self.url:
            raise ValueError("llm options: engine 'server' needs url (--llm-url)")
        if self.engine == "ray_data" and self.ray_data is None:
            raise ValueError("llm options: engine 'ray_data' needs ray_data: {model_source: ...}")
        return self

    def batch_config(self) -> RayDataLLMConfig:
        assert self.ray_data is not None
        sampling = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        return self.ray_data.model_copy(update=sampling)

    def client_config(self) -> LLMConfig:
        return LLMConfig(
            base_url=self.url,
            model=self.model,
            api_key=self.api_key,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            sampling=SamplingSettings(temperature=self.temperature, max_tokens=self.max_tokens),
        )


def llm_options(cfg: SynthConfig) -> LLMSynthOptions:
    """The run's LLM options; ValueError naming the problem when missing or malformed."""
    raw = cfg.options.get(STRATEGY)
    if not raw:
        raise ValueError(
            'the llm strategy and writer need options {"llm": {"url": ...}} (--llm-url URL)'
        )
    return LLMSynthOptions.model_validate(raw)


@dataclass(frozen=True)
class Job:
    """One attempt of the strategy: a target, a variant and the request's sampling seed."""

    target: Target
    variant: Variant
    seed: int


def llm_candidates(
    snapshot: RepoSnapshot, cfg: SynthConfig, funnel: SynthFunnel
) -> list[Candidate]:
    """Up to `cfg.budget()` attempts (one request each) on seed-chosen targets; every
    attempt counted in `funnel` under ("llm", variant) with its reject reason. The same
    seed sends the same requests (each with its own sampling seed)."""
    options = llm_options(cfg)
    targets, _ = find_targets(snapshot, min_statements=cfg.min_statements)
    order = sorted(targets, key=lambda t: (t.file, t.qualname))
    random.Random(f"llm-order:{cfg.seed}").shuffle(order)
    jobs = []
    for i, target in enumerate(order[: cfg.budget()]):
        variant = options.variants[i % len(options.variants)]
        seed = int(content_hash(cfg.seed, target.file, target.qualname, variant)[:8], 16)
        jobs.append(Job(target, variant, seed))
    if options.engine == "ray_data":
        results, model = _batch_results(snapshot, jobs, options), options.ray_data.model_source
    else:
        results, model = _client_results(snapshot, jobs, options)
    out = _collect(snapshot, jobs, results, funnel, model)
    prompt = sum(r.prompt_tokens for r in results)
    completion = sum(r.completion_tokens for r in results)
    logger.info(
        "llm strategy on %s (%s): %d attempts, %d candidates, %d prompt + %d completion tokens",
        snapshot.repo, options.engine, len(jobs), len(out), prompt, completion,
    )  # fmt: skip
    return out


def _client_results(
    snapshot: RepoSnapshot, jobs: list[Job], options: LLMSynthOptions
) -> tuple[list[RewriteResult], str]:
    """One request per job through the client, `max_concurrency` at a time."""
    client = LLMClient(options.client_config())
    model = client.check()  # a dead endpoint or a wrong model name fails the run here

    def attempt(job: Job) -> RewriteResult:
        source = snapshot.read(job.target.file) or ""
        return rewrite_function(
            client, source, job.target.qualname, job.variant, path=job.target.file, seed=job.seed
        )

    with ThreadPoolExecutor(options.max_concurrency) as pool:
        return list(pool.map(attempt, jobs)), model


def _batch_results(
    snapshot: RepoSnapshot, jobs: list[Job], options: LLMSynthOptions
) -> list[RewriteResult]:
    """Every job's request in one Ray Data batch inference run (vLLM in the job)."""
    from swelego_ray._ray import init_ray

    results: dict[int, RewriteResult] = {}
    asked: list[int] = []
    conversations: list[list[Message]] = []
    for i, job in enumerate(jobs):
        source = snapshot.read(job.target.file) or ""
        try:
            conversations.append(
                rewrite_messages(job.variant, source, job.target.qualname, job.target.file)
            )
            asked.append(i)
        except (ValueError, cst.ParserSyntaxError) as exc:
            results[i] = RewriteResult(
                job.target.qualname, job.variant, None, Reject.TARGET_NOT_FOUND, str(exc)
            )
    init_ray()
    seeds: list[int | None] = [jobs[i].seed for i in asked]
    answers = generate_batch(conversations, options.batch_config(), seeds=seeds)
    for i, answer in zip(asked, answers, strict=True):
        job = jobs[i]
        if answer.error:
            results[i] = RewriteResult(
                job.target.qualname, job.variant, None, Reject.LLM_ERROR, answer.error[:2000]
            )
            continue
        source = snapshot.read(job.target.file) or ""
        results[i] = judge_rewrite(
            source, job.target.qualname, job.variant, answer.text,
            answer.prompt_tokens, answer.completion_tokens,
        )  # fmt: skip
    return [results[i] for i in range(len(jobs))]


def _collect(
    snapshot: RepoSnapshot,
    jobs: list[Job],
    results: list[RewriteResult],
    funnel: SynthFunnel,
    model: str,
) -> list[Candidate]:
    seen: set[str] = set()
    out: list[Candidate] = []
    for job, result in zip(jobs, results, strict=True):
        key, target = (STRATEGY, str(job.variant)), job.target
        funnel.reach(key, "candidates")
        if result.new_text is None:
            funnel.drop(key, str(result.reject))
            continue
        funnel.reach(key, "applied")
        old = snapshot.read(target.file) or ""
        bug = file_diff(target.file, old, result.new_text)
        digest = diff_hash(bug)
        if digest in seen:
            funnel.drop(key, "duplicate")
            continue
        seen.add(digest)
        funnel.reach(key, "compiles")  # splice() compiled the file
        out.append(_candidate(snapshot, job, result, old, bug, digest, model))
    return out


def _candidate(
    snapshot: RepoSnapshot,
    job: Job,
    result: RewriteResult,
    old: str,
    bug: str,
    digest: str,
    model: str,
) -> Candidate:
    assert result.new_text is not None
    target = job.target
    did = "re-implemented" if result.variant == Variant.REWRITE else "planted a bug in"
    return Candidate(
        instance_id=f"{snapshot.stem}.{STRATEGY}.{result.variant}.{digest}",
        repo=snapshot.repo,
        base_commit=snapshot.commit,
        source=str(snapshot.path),
        env_spec=snapshot.env_spec,
        provenance=Provenance.LLM_REWRITE,
        origin=Origin(
            strategy=STRATEGY,
            transform=str(result.variant),
            seed=job.seed,
            file=target.file,
            function=target.qualname,
            explanation=f"{model} {did} the function",
        ),
        features=Features(
            lines_changed=changed_line_count(bug), files=1, function_lines=target.lines
        ),
        bug_patch=bug,
        patch=file_diff(target.file, result.new_text, old),
        extra_meta={
            "llm": {
                "model": model,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
            }
        },
    )


register_strategy(STRATEGY, llm_candidates)
