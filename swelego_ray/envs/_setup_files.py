"""SWE-bench's requirement files come from the environment_setup_commit.

Its harness fetches a spec's requirements file (`packages: requirements.txt`, with one
level of `-r` includes expanded, included lines first) or environment.yml as they are at
the task's environment_setup_commit, writes the text into the image build script, and
checks out the base commit afterwards. Environments here are built at the base commit,
where that file may differ or not exist (xarray 0.12's ci/requirements/environment.yml:
absent at three of the five Lite base commits, `h5py=2` at another). `inline_setup_files`
reads the file at the setup commit from the repository source on the host and puts its
text in the build step (a heredoc), so the build installs what SWE-bench's image has; the
wheelhouse reads the same text back (`inline_text`).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable

from swelego_ray.envs._spec import EnvSpec
from swelego_ray.envs._swebench_specs import install_file_tail, requirements_step_candidates
from swelego_ray.gitsafe import run_git

_INLINE = re.compile(
    r"^# swelego: (?P<path>\S+) at (?P<commit>[0-9a-f]+)\nreq=\"\$\(mktemp\)\"; "
    r"cat > \"\$req\" <<'(?P<delim>SWELEGO_[0-9a-f]+)'\n(?P<text>.*?)\n(?P=delim)\n",
    re.DOTALL,
)

Reader = Callable[[str], "str | None"]


def git_reader(source: str, commit: str) -> Reader:
    """A reader of files at `commit` in the local repository `source` (None: absent)."""

    def read(path: str) -> str | None:
        done = run_git("show", f"{commit}:{path}", cwd=source)
        return done.stdout if done.returncode == 0 else None

    return read


def _file_text(path: str, read: Reader) -> str | None:
    """The file as SWE-bench's get_requirements_by_commit / environment.yml reader has
    it: a requirements file with its `-r` includes (one level) expanded, their lines
    first."""
    text = read(path)
    if text is None or path.endswith((".yml", ".yaml")):
        return text
    included: list[str] = []
    own: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("-r"):
            name = line.strip()[2:].strip()
            extra = read(posixpath.normpath(posixpath.join(posixpath.dirname(path), name)))
            included += (extra or "").splitlines()
        elif line.strip():
            own.append(line)
    return "\n".join(included + own)


def inline_step(command: str, commit: str, read: Reader) -> str | None:
    """`command` (a SWE-bench requirements / environment file step) with the file's text
    at `commit` inline; None when `command` is not such a step or no candidate file
    exists at `commit` (the step then reads the checkout, and fails there by name)."""
    candidates = requirements_step_candidates(command)
    for path in candidates or []:
        text = _file_text(path, read)
        if text is not None:
            delim = "SWELEGO_" + hashlib.sha256(text.encode()).hexdigest()[:16]
            return (
                f"# swelego: {path} at {commit}\n"
                f'req="$(mktemp)"; cat > "$req" <<\'{delim}\'\n{text}\n{delim}\n'
                'f="$(mktemp)"; ' + install_file_tail(yml=path.endswith((".yml", ".yaml")))
            )
    return None


def inline_setup_files(spec: EnvSpec, commit: str, read: Reader) -> EnvSpec:
    """`spec` with each SWE-bench requirements / environment file step reading the file
    as it is at `commit` (the environment_setup_commit); unchanged if none applies."""
    steps = [inline_step(step, commit, read) or step for step in spec.pre_install]
    if steps == spec.pre_install:
        return spec
    return spec.model_copy(update={"pre_install": steps})


def inline_text(command: str) -> tuple[str, str] | None:
    """(path, text) of an inlined step's file, for the wheelhouse; None otherwise."""
    match = _INLINE.match(command)
    return (match.group("path"), match.group("text")) if match else None
