"""Curriculum buckets, schedule and the ordered, DDP-sharded, resumable sampler."""

from __future__ import annotations

import random

import pytest

from swelego_ray.sft.curriculum import (
    Bucket,
    CurriculumConfig,
    CurriculumSampler,
    CurriculumSchedule,
    assign_buckets,
)


def test_default_buckets_and_overflow():
    cfg = CurriculumConfig()
    assert assign_buckets([0, 49, 50, 69, 70, 100, 101], cfg) == [
        "easy", "easy", "medium", "medium", "hard", "hard", "hard"]  # fmt: skip
    drop = CurriculumConfig(overflow="drop")
    assert assign_buckets([100, 101], drop) == ["hard", None]


def test_schedule_disjoint_cumulative_and_drops():
    turns = [10, 60, 80, 20, 150]
    disjoint = CurriculumSchedule.build(turns, CurriculumConfig(overflow="drop"))
    assert [(s.name, s.indices, s.epochs) for s in disjoint.stages] == [
        ("easy", (0, 3), 4), ("medium", (1,), 4), ("hard", (2,), 4)]  # fmt: skip
    assert disjoint.dropped == {"difficulty_out_of_range": 1}
    cum = CurriculumSchedule.build(
        turns, CurriculumConfig(cumulative=True, epochs_per_stage=[1, 2, 3])
    )
    assert [s.indices for s in cum.stages] == [(0, 3), (0, 1, 3), (0, 1, 2, 3, 4)]
    assert [s.epochs for s in cum.stages] == [1, 2, 3]
    only = CurriculumSchedule.build(turns, CurriculumConfig(stages=["hard"]))
    assert only.dropped == {"bucket_not_in_stages": 3}
    off = CurriculumSchedule.build(turns, CurriculumConfig(enabled=False, epochs_per_stage=2))
    assert [(s.name, len(s.indices), s.epochs) for s in off.stages] == [("all", 5, 2)]
    assert "stage 1 medium [50, 70): 1 examples x 4 epochs" in disjoint.render()


@pytest.mark.parametrize(
    "bad",
    [
        {"stages": ["easy", "impossible"]},
        {"epochs_per_stage": [1, 2]},
        {"epochs_per_stage": 0},
        {"buckets": [Bucket(name="a", low=0, high=10), Bucket(name="b", low=5, high=20)]},
        {"typo": 1},
    ],
)
def test_bad_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        CurriculumConfig(**bad)


def _data(n: int = 203, seed: int = 1) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    turns = [rng.randint(1, 99) for _ in range(n)]
    lengths = [rng.randint(200, 4000) for _ in range(n)]
    return turns, lengths


def _samplers(world: int, **kw):
    turns, lengths = _data()
    cfg = CurriculumConfig(epochs_per_stage=kw.pop("epochs", 2))
    schedule = CurriculumSchedule.build(turns, cfg)
    return schedule, [
        CurriculumSampler(lengths, schedule, rank=r, world_size=world, **kw) for r in range(world)
    ]


def test_ranks_step_together_cover_every_example_and_follow_the_stages():
    schedule, samplers = _samplers(2, seed=3, batch_size=2, grad_accum=4)
    runs = [list(s) for s in samplers]
    assert len(runs[0]) == len(runs[1]) == len(samplers[0]) and len(runs[0]) % 4 == 0
    assert samplers[0].total_steps == len(runs[0]) // 4
    stage_order = [mb.stage for mb in runs[0]]
    assert stage_order == sorted(stage_order)  # easy, then medium, then hard
    for a, b in zip(*runs, strict=True):
        assert (a.stage, a.epoch, a.position) == (b.stage, b.epoch, b.position)
    for k, stage in enumerate(schedule.stages):
        for epoch in range(stage.epochs):
            slots = [i for r in runs for mb in r if (mb.stage, mb.epoch) == (k, epoch)
                     for i in mb.indices]  # fmt: skip
            assert set(slots) == set(stage.indices)
            # the stage-epoch is filled to whole steps by repeating a few examples, no more
            assert 0 <= len(slots) - len(stage.indices) < 2 * 2 * 4
    ends = [mb for mb in runs[0] if mb.last_of_epoch]
    assert len(ends) == sum(s.epochs for s in schedule.stages)


def test_deterministic_and_epochs_reshuffle():
    _, (a,) = _samplers(1, seed=7, batch_size=1)
    _, (b,) = _samplers(1, seed=7, batch_size=1)
    assert [m.indices for m in a] == [m.indices for m in b]
    assert a.stage_batches(0, 0) != a.stage_batches(0, 1)
    _, (c,) = _samplers(1, seed=8, batch_size=1)
    assert c.stage_batches(0, 0) != a.stage_batches(0, 0)


def test_length_grouping_keeps_padding_under_ten_percent():
    _, samplers = _samplers(2, seed=0, batch_size=4, grad_accum=2)
    assert samplers[0].padding_fraction() <= 0.10
    assert samplers[1].padding_fraction() <= 0.10


def test_resume_mid_stage_continues_exactly():
    _, (full,) = _samplers(1, seed=5, batch_size=2, grad_accum=2)
    everything = [m.indices for m in full]
    _, (first,) = _samplers(1, seed=5, batch_size=2, grad_accum=2)
    it = iter(first)
    head = [next(it).indices for _ in range(37)]
    state = first.state_dict()
    _, (resumed,) = _samplers(1, seed=5, batch_size=2, grad_accum=2)
    resumed.load_state_dict(state)
    assert head + [m.indices for m in resumed] == everything
    _, (other, _) = _samplers(2, seed=5, batch_size=2, grad_accum=2)
    with pytest.raises(ValueError, match="world_size"):
        other.load_state_dict(state)


def test_buckets_from_the_datas_own_percentiles():
    cfg = CurriculumConfig(bucket_percentiles=[33.3, 66.7], epochs_per_stage=1)
    turns = [12, 18, 25, 31, 40, 44, 52, 60, 75, 90]  # fixed buckets: most are "easy"
    default = CurriculumSchedule.build(turns, CurriculumConfig(epochs_per_stage=1))
    assert [len(s.indices) for s in default.stages] == [6, 2, 2]
    sched = CurriculumSchedule.build(turns, cfg)
    assert [len(s.indices) for s in sched.stages] == [3, 4, 3]
    assert sched.dropped == {}
    assert "stage 0 easy [0, 31)" in sched.render() and "hard [60, 90]" in sched.render()
    ties = CurriculumSchedule.build([5] * 6 + [9], cfg)  # equal percentiles stay valid ranges
    assert sum(len(s.indices) for s in ties.stages) == 7
    # integer turn counts: a tie group stays whole, the cut closest to the share wins
    tied = CurriculumSchedule.build([8] * 15 + [9] * 13, cfg)
    assert [len(s.indices) for s in tied.stages] == [15, 13, 0]


def test_bucket_percentiles_are_validated():
    with pytest.raises(ValueError, match="needs 2 values for 3 buckets"):
        CurriculumConfig(bucket_percentiles=[50])
    with pytest.raises(ValueError, match="ascend strictly"):
        CurriculumConfig(bucket_percentiles=[60, 40])
