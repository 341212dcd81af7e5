"""The README and the packaging metadata tell the same story as the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.template import engines

from conversion_tracking import checks
from conversion_tracking.conf import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
# tomllib arrived in Python 3.11; these few values are simple enough to find.
CLASSIFIERS = re.findall(r'(?m)^    "([^"]+ :: [^"]+)",$', PYPROJECT)


def readme_headings() -> set[str]:
    return {match.strip("`") for match in re.findall(r"(?m)^#{2,4} (.+)$", README)}


def test_every_setting_has_a_heading() -> None:
    names = [name for name in vars(Settings) if name.isupper()]

    assert names
    missing = [name for name in names if PREFIX + name not in readme_headings()]
    assert missing == []


def test_every_check_id_is_in_the_checks_table() -> None:
    source = Path(checks.__file__).read_text(encoding="utf-8")
    ids = set(re.findall(r'id="(conversion_tracking\.[EW]\d{3})"', source))

    assert len(ids) >= 9
    assert sorted(i for i in ids if f"| `{i}` |" not in README) == []


def test_every_command_is_documented() -> None:
    ours = [
        name for name, app in get_commands().items() if app == "conversion_tracking"
    ]

    assert sorted(ours) == [
        "conversion_tracking_import",
        "conversion_tracking_landing_url",
    ]
    assert [name for name in ours if name not in readme_headings()] == []


def test_every_template_tag_and_filter_is_documented() -> None:
    library = engines["django"].engine.template_libraries["conversion_tracking"]
    names = [*library.tags, *library.filters]

    assert len(names) == 4
    assert [name for name in names if name not in README] == []


def test_readme_claims_the_django_versions_of_the_classifiers() -> None:
    django = sorted(
        c.rsplit(" :: ", 1)[1]
        for c in CLASSIFIERS
        if c.startswith("Framework :: Django :: ")
    )

    assert django == ["4.2", "5.2"]
    assert f"Django {django[0]} or {django[1]} (both tested)" in README
    assert 'dependencies = ["django>=4.2,<6.0"]' in PYPROJECT


def test_readme_claims_the_python_versions_of_the_classifiers() -> None:
    python = sorted(
        c.rsplit(" :: ", 1)[1]
        for c in CLASSIFIERS
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )

    assert python == ["3.10", "3.11"]
    assert 'requires-python = ">=3.10"' in PYPROJECT
    assert "Python 3.10 or newer (tested on 3.10 and 3.11)" in README


def test_ci_runs_the_versions_the_readme_claims() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    assert "make test\n" in ci
    assert "make test-django42" in ci
    assert "versions/3.10" in ci
    assert "DJANGO='django>=4.2,<5.0'" in makefile


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_readme_gives_the_two_make_commands(command: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    assert f"```console\n{command}\n```" in README
    assert re.search(rf"(?m)^{command.split()[1]}:", makefile)
