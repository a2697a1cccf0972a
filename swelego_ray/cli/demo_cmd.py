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
    llm_synth: Annotated[
        bool,
        typer.Option(
            "--llm-synth/--no-llm-synth",
            help="Also synthesize by LLM rewrites with model-written statements, against the "
            "local tiny server (vLLM CPU engine on loopback, started for that stage only).",
        ),
    ] = False,
    sft: Annotated[bool, typer.Option("--sft/--no-sft", help="Fine-tune the tiny model.")] = True,
    tts: Annotated[
        bool,
        typer.Option("--tts/--no-tts", help="Verifier, Ray Serve TTS app, TTS@k vs Pass@1."),
    ] = True,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="Write report.md and report.html.")
    ] = True,
) -> None:
    """The recipe on the bundled samples: validate and evaluate the sample tasks (gold,
    empty, a sample model), synthesize AST tasks from the sample packages (and, with
    --llm-synth, LLM-rewritten ones against the local tiny server), roll out every
    task with the replay teacher (judged, labelled), fine-tune the tiny model on the kept
    trajectories, train a verifier, serve both on Ray Serve and measure TTS@k against
    Pass@1, and write report.md / report.html.

    Exits non-zero unless every gold patch resolves, no empty patch does, the recomputed
    FAIL_TO_PASS / PASS_TO_PASS lists match the recorded ones and every episode ran.

    Example:

      swelego demo --workdir runs/demo
      swelego demo --workdir runs/demo --llm-synth
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
            llm_synth=llm_synth,
            sft=sft,
            tts=tts,
            report=report,
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
        for strategy, counts in result.synthesis_by_strategy.items():
            console.print(
                f"  {strategy}: {counts['candidates']} candidates -> {counts['written']} "
                f"written; dropped {counts['dropped'] or '-'}; notes {counts.get('notes') or '-'}",
                markup=False,
            )
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
    if result.tts:
        replay, served = result.tts["replay"], result.tts["served-policy"]
        console.print(
            f"tts (replay teacher, {replay['tasks']} tasks): Pass@1 {replay['pass_at_1']}, "
            f"TTS@k {replay['tts_at_k']}, oracle Pass@k {replay['pass_at_k']}; served tiny "
            f"policy: Pass@1 {served['pass_at_1']}, TTS@k {served['tts_at_k']}"
        )
    if result.report:
        console.print(f"report: {result.report}")
    console.print(f"results under {workdir}/ (report.json and report.md per run)")
    if not result.ok:
        console.print("[red]demo FAILED[/]: see the reasons above")
        raise typer.Exit(1)
    console.print("[green]demo OK[/]")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
