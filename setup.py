"""The wheel's one addition to pyproject.toml: a .pth file that keeps agenthost 0.1's import names working.

``agenthost-legacy-imports.pth`` runs ``agenthost._legacy.install()`` at interpreter
start (``import agenthost`` is cheap: its names load on first use). To be removed in 0.3.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "agenthost-legacy-imports.pth"


class BuildWithLegacyImports(build_py):
    def run(self) -> None:
        super().run()
        line = "import agenthost._legacy; agenthost._legacy.install()\n"
        (Path(self.build_lib) / PTH).write_text(line, encoding="utf-8")


setup(cmdclass={"build_py": BuildWithLegacyImports})
