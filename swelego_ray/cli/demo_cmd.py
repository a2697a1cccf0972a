"""`swelego demo`: the main job on embedded defaults (the samples through the recipe)."""

from __future__ import annotations

from typing import Annotated

import typer


def demo(
    workdir: Annotated[str, typer.Option("--workdir", help="Where results go.")] = "runs/demo",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Items in flight.")] = 2,
    backend: Annotated[str, typer.Option("--backend", help="local | docker")] = "local",
    synth_per_repo: Annotated[
        int, typer.Option("--synth-per-repo", min=0, help="AST tasks per sample package (0: none).")
    ] = 3,
    sft: Annotated[bool, typer.Option("--sft/--no-sft", help="Fine-tune the tiny model.")] = True,
) -> None:
    """The recipe on the bundled samples: validate and evaluate the sample tasks (gold,
    empty, a sample model), synthesize AST tasks from the sample packages, roll out every
    task with the replay teacher (judged, labelled), fine-tune the tiny model on the kept
    trajectories.

    Exits non-zero unless every gold patch resolves, no empty patch does, the recomputed
    FAIL_TO_PASS / PASS_TO_PASS lists match the recorded ones and every episode ran.

    Example:

      swelego demo --workdir runs/demo
    """
    from rich.console import Console
    from rich.table import Table

    from swelego_ray.demo import DemoConfig, run_demo

    console = Console()
    result = run_demo(
        DemoConfig(
            workdir=workdir,
            workers=workers,
            backend=backend,
            synth_per_repo=synth_per_repo,
            sft=sft,
        ),
        console=console,
    )
    table = Table(title="swelego demo")
    for column in ("run", "tasks", "resolved", "unresolved", "empty patch", "errors"):
        table.add_column(column)
    for name, counts in result.evaluations.items():
        table.add_row(
            name,
            str(counts["total_instances"]),
            str(counts["resolved_instances"]),
            str(counts["unresolved_instances"]),
            str(counts["empty_patch_instances"]),
            str(counts["error_instances"]),
        )
    console.print(f"validation: {result.validated} kept, {result.dropped} dropped")
    if result.mismatched_tests:
        console.print(f"[red]F2P/P2P differ from the record:[/] {result.mismatched_tests}")
    console.print(table)
    if result.synthesis:
        console.print(f"synthesis: {result.synthesized} tasks written ({result.synthesis})")
    if result.rollouts:
        r = result.rollouts
        console.print(
            f"rollouts: {r['episodes']} episodes, {r['kept']} kept for SFT; labels "
            f"{r['labels']}; ends {r['end_reasons']}; git hacking {r['hacking']}"
        )
    if result.sft:
        console.print(
            f"sft: final loss {result.sft.get('final_loss')}, model {result.sft.get('model')}"
        )
    console.print(f"results under {workdir}/ (report.json and report.md per run)")
    if not result.ok:
        console.print("[red]demo FAILED[/]: see the reasons above")
        raise typer.Exit(1)
    console.print("[green]demo OK[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
