"""Build hook (everything else is in pyproject.toml).

The wheel carries ``examples/demo_project`` (what ``mgd demo`` completes in) as
``mgd/_demo_project``; the project stays where it is in the repository, and an
editable install finds it there.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DEMO_PROJECT = Path(__file__).resolve().parent / "examples" / "demo_project"


class BuildPyWithDemo(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "mgd" / "_demo_project"
        shutil.copytree(DEMO_PROJECT, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildPyWithDemo})
