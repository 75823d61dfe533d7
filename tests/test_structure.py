"""The structure the code promises: no import cycles, one route table, one error table, one import name."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from agenthost.errors import EXCEPTIONS
from agenthost.events import EVENT_DATA
from agenthost.http_bridge import ROUTES, create_app
from agenthost.http_bridge.errors import STATUS
from agenthost.http_bridge.openapi import openapi_document
from agenthost.messages import ErrorCode, EventKind
from agenthost.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "agenthost"


def _modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name (through the symlinked folders)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("agenthost", *parts[:-1])) if parts[-1] == "__init__" else ".".join(("agenthost", *parts))
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every agenthost module ``name`` imports, anywhere in the file (lazy and TYPE_CHECKING ones too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            # "from pkg import name" runs pkg/__init__ unless every name is a submodule of pkg
            targets = submodules if all(sub in modules for sub in submodules) else [*submodules, base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: set(_imports(name, path, modules)) for name, path in modules.items()}
    graph["agenthost"] -= set(modules)  # the public facade: its imports are TYPE_CHECKING-only, names load lazily
    assert len(modules) > 40
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_route_is_in_the_openapi_document_and_nothing_else_is() -> None:
    app = create_app(Settings(model={"provider": "none"}, entry_points=False))
    document = openapi_document()
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    hidden = {(route.method, route.path) for route in ROUTES if not route.documented}
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert served - hidden == documented
    assert hidden <= served


def test_every_error_code_has_an_exception_and_an_http_status() -> None:
    codes = set(get_args(ErrorCode))
    assert set(EXCEPTIONS) == codes
    assert set(STATUS) == codes
    assert all(cls.code == code for code, cls in EXCEPTIONS.items())


def test_every_event_kind_has_a_data_type_in_the_document() -> None:
    assert set(EVENT_DATA) == set(get_args(EventKind))
    schemas = openapi_document()["components"]["schemas"]
    assert {data_type.__name__ for data_type in EVENT_DATA.values()} <= set(schemas)


@pytest.mark.slow
def test_the_wheel_installs_one_name_and_keeps_the_old_ones_working(tmp_path: Path) -> None:
    wheels, source = tmp_path / "wheels", tmp_path / "source"  # built from a copy: a build writes into its tree
    skip = shutil.ignore_patterns(".venv", ".git", "*cache*", "build", "*.egg-info", "tests", "bench", "k8s")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), "."]
    subprocess.run(build, cwd=source, check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("agenthost-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        archive.extractall(tmp_path / "site")
    assert {top for top in tops if not top.endswith(".dist-info")} == {"agenthost", "agenthost-legacy-imports.pth"}
    for page_file in ("playground.html", "playground.js", "playground.css"):  # package data: the playground
        assert (tmp_path / "site" / "agenthost" / "http_bridge" / "static" / page_file).is_file()
    (tmp_path / "mine" / "agents").mkdir(parents=True)
    (tmp_path / "mine" / "agents" / "__init__.py").write_text("OWN = True\n")  # as the OpenAI Agents SDK would be
    check = textwrap.dedent(f"""
        import site, sys, warnings
        sys.path.insert(0, {str(tmp_path / "mine")!r})
        site.addsitedir({str(tmp_path / "site")!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from host import AgentHost, add_agent
            from host.messages import ChatRequest
            import http_bridge.app
        import agenthost, agenthost.messages, agenthost.http_bridge.app
        assert ChatRequest is agenthost.messages.ChatRequest and AgentHost is agenthost.AgentHost
        assert http_bridge.app is agenthost.http_bridge.app
        assert any("import 'agenthost' instead" in str(w.message) for w in caught), caught
        assert all(w.category is DeprecationWarning for w in caught)
        import agents
        assert agents.OWN  # a real package named agents wins over the old alias
    """)
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _module_commands() -> Iterator[tuple[str, str]]:
    """Every ``python -m <module>`` the scripts, the Dockerfile and the k8s manifests run."""
    files = [*(ROOT / "scripts").iterdir(), ROOT / ".ci" / "run", ROOT / "Dockerfile", *(ROOT / "k8s").rglob("*.y*ml")]
    for path in files:
        for line in path.read_text().splitlines():
            words = line.split()
            for i, word in enumerate(words[:-1]):
                if (
                    word == "-m"
                    and not words[i + 1].startswith(("-", '"', "$"))
                    and words[i + 1] not in ("pip", "venv")
                ):
                    yield f"{path.relative_to(ROOT)}: {line.strip()}", words[i + 1]


def test_every_module_the_scripts_run_exists() -> None:
    # The installer ran `python -m host.local_model_check` after the module moved: only a fresh clone noticed.
    commands = list(_module_commands())
    assert any(module == "pytest" for _, module in commands)  # the scan finds them at all
    for where, module in commands:
        found = subprocess.run(
            [sys.executable, "-W", "error::DeprecationWarning", "-c", f"import importlib.util, sys; "
             f"sys.exit(importlib.util.find_spec({module!r}) is None)"],
            cwd=ROOT, capture_output=True, timeout=60,
        )  # fmt: skip
        assert found.returncode == 0, f"{where}: no module {module!r} ({found.stderr.decode()[-300:]})"
