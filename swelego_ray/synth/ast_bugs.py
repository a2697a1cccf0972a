"""Strategy `ast`: one libcst transform at one target function -> one candidate bug."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import libcst as cst

from swelego_ray.schema import Provenance
from swelego_ray.storage import content_hash
from swelego_ray.synth.candidates import Candidate, Features, Origin
from swelego_ray.synth.diffs import changed_line_count, diff_hash, file_diff
from swelego_ray.synth.funnel import SynthFunnel
from swelego_ray.synth.repos import RepoSnapshot
from swelego_ray.synth.splice import ModuleText
from swelego_ray.synth.targets import Target, find_function, find_targets
from swelego_ray.synth.transforms import TRANSFORMS, transform

if TYPE_CHECKING:
    from swelego_ray.synth.config import SynthConfig

STRATEGY = "ast"


def attempt_seed(seed: int, target: Target, name: str) -> int:
    """The seed of one (target, transform) attempt, derived from the run's seed."""
    return int(content_hash(seed, target.file, target.qualname, name)[:8], 16)


def attempts(targets: list[Target], names: list[str], seed: int) -> Iterator[tuple[Target, str]]:
    """(target, transform) pairs in a seeded order that spreads over targets first: round
    r tries each target (seed-shuffled) with its r-th transform (a per-target shuffle)."""
    rng = random.Random(f"ast-order:{seed}")
    order = list(targets)
    rng.shuffle(order)
    per_target = {}
    for target in order:
        mine = list(names)
        random.Random(f"{seed}:{target.file}:{target.qualname}").shuffle(mine)
        per_target[target] = mine
    for round_ in range(len(names)):
        for target in order:
            yield target, per_target[target][round_]


def rewrite(
    module: cst.Module | ModuleText, target: Target, name: str, seed: int
) -> tuple[str | None, str]:
    """(new module text, "") or (None, drop reason) for one attempt."""
    cls = TRANSFORMS[name]
    if cls.needs_method and (not target.is_method or target.class_members < 2):
        return None, "not_a_method"
    text = module if isinstance(module, ModuleText) else ModuleText(module)
    func = find_function(text.module, target.qualname)
    if func is None:
        return None, "target_not_found"
    try:
        new = transform(name, seed).apply(func)
        if new is None:
            return None, "no_site"
        return text.replaced(func, new), ""
    except Exception as exc:  # a transform that cannot rewrite this code: recorded
        return None, f"transform_error:{type(exc).__name__}"


def ast_candidates(
    snapshot: RepoSnapshot, cfg: SynthConfig, funnel: SynthFunnel
) -> list[Candidate]:
    """Up to `cfg.budget()` distinct, compiling candidate bugs of `snapshot`, the same for
    the same seed. Every attempt is counted in `funnel` (with its drop reason)."""
    targets, modules = find_targets(snapshot, min_statements=cfg.min_statements)
    texts = {path: ModuleText(module) for path, module in modules.items()}
    names = cfg.transforms or list(TRANSFORMS)
    seen: set[str] = set()
    out: list[Candidate] = []
    for target, name in attempts(targets, names, cfg.seed):
        if len(out) >= cfg.budget():
            break
        key = (STRATEGY, name)
        seed = attempt_seed(cfg.seed, target, name)
        if TRANSFORMS[name].needs_method and not target.is_method:
            continue  # not an attempt: the family needs a method
        funnel.reach(key, "candidates")
        old = snapshot.read(target.file) or ""
        new, reason = rewrite(texts[target.file], target, name, seed)
        if new is None or new == old:
            funnel.drop(key, reason or "unchanged")
            continue
        funnel.reach(key, "applied")
        try:
            compile(new, target.file, "exec", dont_inherit=True)  # compiles; runs nothing
        except (SyntaxError, ValueError) as exc:
            funnel.drop(key, f"does_not_compile:{type(exc).__name__}")
            continue
        bug = file_diff(target.file, old, new)
        digest = diff_hash(bug)
        if digest in seen:
            funnel.drop(key, "duplicate")
            continue
        seen.add(digest)
        funnel.reach(key, "compiles")
        out.append(_candidate(snapshot, target, name, seed, old, new, bug, digest))
    return out


def _candidate(
    snapshot: RepoSnapshot,
    target: Target,
    name: str,
    seed: int,
    old: str,
    new: str,
    bug: str,
    digest: str,
) -> Candidate:
    return Candidate(
        instance_id=f"{snapshot.stem}.{STRATEGY}.{name}.{digest}",
        repo=snapshot.repo,
        base_commit=snapshot.commit,
        source=str(snapshot.path),
        env_spec=snapshot.env_spec,
        provenance=Provenance.AST,
        origin=Origin(
            strategy=STRATEGY,
            transform=name,
            seed=seed,
            file=target.file,
            function=target.qualname,
            explanation=TRANSFORMS[name].explanation,
        ),
        features=Features(
            lines_changed=changed_line_count(bug), files=1, function_lines=target.lines
        ),
        bug_patch=bug,
        patch=file_diff(target.file, new, old),
    )
