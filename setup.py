"""Finds the packages: each folder that pyproject.toml's ``package-dir`` maps into the ``vlpipe``
namespace, with every folder below it (a source's package, its bundled ``samples/``), so that
adding a source edits no list."""

import tomllib
from pathlib import Path

from setuptools import setup


def mapped_packages() -> list[str]:
    config = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    found = []
    for name, folder in config["tool"]["setuptools"]["package-dir"].items():
        for path in sorted([Path(folder), *Path(folder).rglob("*")]):
            parts = path.relative_to(folder).parts
            if path.is_dir() and not any(p.startswith((".", "__")) for p in parts):
                found.append(".".join((name, *parts)))
    return found


setup(packages=mapped_packages())
