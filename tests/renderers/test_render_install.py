"""The tool check names the Debian package to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlpipe.errors import ConfigError
from vlpipe.renderers import check_renderer_tools, find_chromium, find_tex_binary


def test_all_tools_present(tools: None) -> None:
    check_renderer_tools()


def test_missing_tools_name_their_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("VLPIPE_CHROMIUM", str(tmp_path / "chromium"))
    with pytest.raises(ConfigError) as info:
        check_renderer_tools(fonts=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("missing chromium, pdflatex, xelatex, bibtex, biber, kpsewhich")
    assert (
        "apt-get install biber chromium texlive-binaries texlive-latex-base texlive-xetex"
        in message
    )
    with pytest.raises(ConfigError, match=r"apt-get install texlive-latex-base\)$"):
        find_tex_binary("pdflatex")


def test_chromium_location_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("VLPIPE_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    assert find_chromium("/usr/bin/chromium") == "/usr/bin/chromium"
