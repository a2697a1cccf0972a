"""Offline image builds install from a host wheelhouse: every requirement a spec's pip
steps name must be downloaded first (SWE-bench sympy 1.1 pins mpmath==1.3.0 in a
pre_install step, not in `packages`)."""

from __future__ import annotations

from pathlib import Path

from swelego_ray.envs import EnvSpec
from swelego_ray.envs.images import _step_requirements


def test_pip_steps_requirements_are_collected():
    spec = EnvSpec(
        pre_install=[
            "python -m pip install mpmath==1.3.0 'flake8-comprehensions<4'",
            "python -m pip install -r requirements_dev.txt -e .",
            "sed -i 's/a/b/' setup.cfg",
        ],
        install=["python -m pip install -e .", "python -m pip install --no-deps ./vendored"],
    )
    assert _step_requirements(spec, Path("/co")) == [
        "mpmath==1.3.0",
        "flake8-comprehensions<4",
        "-r",
        "/co/requirements_dev.txt",
    ]


def test_swebench_requirements_step_is_read_from_the_file_it_will_pick(tmp_path):
    """SWE-bench's `packages: requirements.txt` step picks its file at build time; the
    wheelhouse reads the same file, filtered the same way (sqlfluff 0.8 needs flake8)."""
    from swelego_ray.envs._swebench_specs import _packages_file_step

    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "base.txt").write_text("click>=7\n")
    (tmp_path / "requirements_dev.txt").write_text(
        "# tools\n-e .\n.[test]\nflake8  # lint\n-r requirements/base.txt\n"
        "--index-url https://example.invalid/simple\n\npytest>=6\n"
    )
    step = _packages_file_step("sqlfluff/sqlfluff", yml=False)  # candidates: requirements_dev.txt
    spec = EnvSpec(pre_install=[step], install=["python -m pip install -e ."])
    assert _step_requirements(spec, tmp_path) == [
        "flake8",
        "-r",
        str(tmp_path / "requirements" / "base.txt"),
        "pytest>=6",
    ]
    assert _step_requirements(spec, tmp_path / "elsewhere") == []  # no file: the step fails


def test_vcs_requirements_install_by_name_in_the_step_and_the_wheelhouse():
    """Builds reach only the package index: a git URL requirement (flask 2.0's
    requirements/dev.txt names sphinx at a commit) is installed by its name; the build
    step's sed program and the wheelhouse's reader agree line by line."""
    import subprocess

    from swelego_ray.envs._swebench_specs import VCS_SED, vcs_as_name

    lines = {
        "git+https://github.com/sphinx-doc/sphinx.git@96dbe5e3": "sphinx",
        "git+https://example.org/a/pkg@v1#egg=real-name": "real-name",
        "-e git+https://example.org/a/tool.git  # dev": "tool",
        "docs-theme[x] @ git+https://example.org/t.git@main": "docs-theme[x]",
        "pytest>=6  # not a URL": "pytest>=6  # not a URL",
    }
    out = subprocess.run(
        ["sed", "-E", VCS_SED], input="\n".join(lines) + "\n", capture_output=True, text=True
    )
    assert out.stdout.splitlines() == [vcs_as_name(line) for line in lines]
    assert [vcs_as_name(line) for line in lines] == list(lines.values())
