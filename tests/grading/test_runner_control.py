"""Which files of a prediction control the test runner, and when a settings file counts."""

from __future__ import annotations

from swelego_ray.evidence import pytest_settings_differ, runner_control


def _new(path: str, text: str = "x\n") -> str:
    lines = "".join(f"+{line}\n" for line in text.splitlines())
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(text.splitlines())} @@\n{lines}"
    )


def _changed(path: str) -> str:
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


def test_runner_control_files_are_classified():
    patch = "".join(
        [
            _new("tests/unit/conftest.py"),
            _new("pytest.ini"),
            _new("src/sitecustomize.py"),
            _new("evil.pth"),
            _new("pluggy.py"),  # shadows a module pytest imports at start-up
            _new("hmac/__init__.py"),  # shadows the standard library
            _changed("pkg/core.py"),
            _changed("setup.cfg"),
            _changed("sub/pyproject.toml"),
            _new("tox.ini"),
            _changed("docs/conf.py"),
            _new(".tox/py39/bin/python", "#!/bin/sh\nexec /bin/true\n"),  # tox's interpreter
            _changed("docs/.toxic.py"),
        ]
    )
    control = runner_control(patch)
    assert control.restore == [
        "tests/unit/conftest.py",
        "pytest.ini",
        "src/sitecustomize.py",
        "evil.pth",
        "pluggy.py",
        "hmac/__init__.py",
        ".tox/py39/bin/python",
    ]
    assert control.check == ["setup.cfg", "sub/pyproject.toml", "tox.ini"]
    # deleting or renaming a conftest counts too; an existing root module does not
    delete = "diff --git a/conftest.py b/conftest.py\ndeleted file mode 100644\n"
    rename = "diff --git a/a.py b/conftest.py\nrename from a.py\nrename to conftest.py\n"
    assert runner_control(delete).restore == ["conftest.py"]
    assert runner_control(rename).restore == ["conftest.py"]
    assert runner_control(_changed("six.py")).restore == []


PYPROJECT = '[project]\nname = "x"\nversion = "1"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'


def test_settings_files_count_only_when_their_pytest_settings_change():
    bumped = PYPROJECT.replace('"1"', '"2"')
    assert not pytest_settings_differ("pyproject.toml", PYPROJECT, bumped)
    cheat = PYPROJECT.replace('"-q"', '"-q -p cheat"')
    assert pytest_settings_differ("pyproject.toml", PYPROJECT, cheat)
    dotted = PYPROJECT + '\n[tool]\n"pytest".ini_options.python_files = "x"\n'
    assert pytest_settings_differ("pyproject.toml", PYPROJECT, dotted)
    assert pytest_settings_differ("pyproject.toml", PYPROJECT, PYPROJECT + "[broken\n")
    assert pytest_settings_differ("tests/pyproject.toml", None, PYPROJECT)
    assert not pytest_settings_differ("tests/pyproject.toml", None, '[project]\nname = "y"\n')
    cfg = "[metadata]\nname = x\n\n[tool:pytest]\naddopts = -q\n"
    assert not pytest_settings_differ("setup.cfg", cfg, cfg.replace("name = x", "name = y"))
    assert pytest_settings_differ("setup.cfg", cfg, cfg.replace("-q", "-q -p cheat"))
    assert not pytest_settings_differ("setup.cfg", cfg, cfg + "# a comment\n")
    tox = "[tox]\nenvlist = py\n\n[testenv]\ncommands = pytest\n\n[flake8]\nmax-line = 80\n"
    assert pytest_settings_differ(
        "tox.ini", tox, tox.replace("commands = pytest", "commands = true")
    )
    assert not pytest_settings_differ("tox.ini", tox, tox.replace("80", "100"))
