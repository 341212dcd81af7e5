from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import conftest


def test_a_missing_chromium_fails_with_the_install_command(monkeypatch) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", Path("/nonexistent/chromium"))

    with (
        pytest.raises(pytest.fail.Exception, match=r"apt-get install chromium"),
        conftest._browse("http://127.0.0.1:1"),
    ):
        pass
