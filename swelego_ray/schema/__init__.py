"""Records shared by every stage: tasks, environments, trajectories (and, as stages land,
labels)."""

from swelego_ray.schema._env import Environment, EnvSpec
from swelego_ray.schema._io import (
    TaskFormatError,
    duplicates,
    read_tasks,
    select_tasks,
    text_problem,
    write_tasks,
)
from swelego_ray.schema._task import TASK_FORMAT, Provenance, Task
from swelego_ray.schema._trajectory import (
    TRAJECTORY_FORMAT,
    FunctionCall,
    Label,
    Message,
    ToolCall,
    Trajectory,
)
from swelego_ray.schema._trajectory_io import (
    FORMATS as TRAJECTORY_FORMATS,
)
from swelego_ray.schema._trajectory_io import (
    ReadResult,
    RecordError,
    TrajectoryFormatError,
    detect_format,
    parse_trajectory,
    read_trajectories,
    read_trajectory_bytes,
    row_instance_id,
    to_sharegpt,
    write_trajectories,
)

__all__ = [
    "TASK_FORMAT",
    "TRAJECTORY_FORMAT",
    "TRAJECTORY_FORMATS",
    "EnvSpec",
    "Environment",
    "FunctionCall",
    "Label",
    "Message",
    "Provenance",
    "ReadResult",
    "RecordError",
    "Task",
    "TaskFormatError",
    "ToolCall",
    "Trajectory",
    "TrajectoryFormatError",
    "detect_format",
    "duplicates",
    "parse_trajectory",
    "read_tasks",
    "read_trajectories",
    "read_trajectory_bytes",
    "row_instance_id",
    "select_tasks",
    "text_problem",
    "to_sharegpt",
    "write_tasks",
    "write_trajectories",
]
