"""The project's own metadata: building it must not warn (issue 28, item 9: setuptools
deprecated ``project.license`` as a table; builds stop working on 2027-02-18)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_metadata_applies_without_a_deprecation_warning():
    pytest.importorskip("setuptools")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    cwd = os.getcwd()
    os.chdir(REPO)  # license-files and the readme are relative to the project
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dist = apply_configuration(Distribution(), "pyproject.toml")
    finally:
        os.chdir(cwd)
    assert dist.metadata.license_expression == "MIT"
    assert "LICENSE" in dist.metadata.license_files
