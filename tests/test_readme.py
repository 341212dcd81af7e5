"""The README's setup steps, followed in a fresh project, so they cannot drift.

The settings a team pastes live in README.md in a fenced ``python`` block right
after the line ``<!-- readme-settings -->``. This test creates a project with
``startproject``, pastes that block at the end of its settings, runs the checks
and ``migrate``, then sends the first request of the journey (an email click)
and reads the captured set back through the public API.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
MARKER = "<!-- readme-settings -->"
OURS = {
    "conversion_tracking",
    "conversion_tracking.middleware.ConversionTrackingMiddleware",
}
CLICK = "j=2027714&sfmc_sub=151496521&l=1940_HTML&u=55981221&mid=6421787&jb=1"
FIRST_STEP = f"""
import json
import django
from django.test import Client
from django.test.utils import setup_test_environment

django.setup()
setup_test_environment()
from conversion_tracking import get_tracking
from conversion_tracking.models import ClickThrough

response = Client().get("/admin/login/?{CLICK}")
tracking = get_tracking(response.wsgi_request)
print(json.dumps({{
    "status": response.status_code,
    "parameters": None if tracking is None else tracking.parameters(),
    "clicks": ClickThrough.objects.count(),
}}))
"""


def readme_settings() -> str:
    if not README.exists():
        pytest.fail(f"{README} is missing: it holds the setup steps this test runs.")
    # The block may sit indented inside a numbered list item.
    pattern = r"^[ \t]*" + re.escape(MARKER) + r"\n+([ \t]*)```python\n(.*?)^\1```"
    match = re.search(pattern, README.read_text(encoding="utf-8"), re.M | re.S)
    if match is None:
        pytest.fail(
            f"README.md has no ```python block right after the line {MARKER}: "
            "put the INSTALLED_APPS and MIDDLEWARE a team pastes there."
        )
    return textwrap.dedent(match.group(2))


def run(project: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        "PYTHONPATH": str(project),
    }
    result = subprocess.run(  # noqa: S603 (the arguments are this module's own)
        [sys.executable, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def settings_of(path: Path) -> dict[str, Any]:
    return runpy.run_path(str(path))


def test_the_readme_setup_works_in_a_fresh_project(tmp_path: Path) -> None:
    snippet = readme_settings()
    project = tmp_path / "project"
    project.mkdir()
    run(project, "-m", "django", "startproject", "mysite", str(project))
    settings_file = project / "mysite" / "settings.py"
    generated = settings_of(settings_file)
    (tmp_path / "snippet.py").write_text(snippet, encoding="utf-8")
    pasted = settings_of(tmp_path / "snippet.py")

    for name in ("INSTALLED_APPS", "MIDDLEWARE"):
        theirs = [entry for entry in pasted[name] if entry not in OURS]
        assert theirs == generated[name], f"{name} differs from startproject's"
    with settings_file.open("a", encoding="utf-8") as settings:
        settings.write("\n# Pasted from the README\n" + snippet)
    run(project, "manage.py", "check", "--fail-level", "WARNING")
    run(project, "manage.py", "migrate", "--noinput")
    outcome = json.loads(run(project, "-c", FIRST_STEP))

    assert outcome == {
        "status": 200,
        "parameters": dict(pair.split("=") for pair in CLICK.split("&")),
        "clicks": 1,
    }
