"""The ``agenthost`` command: list agents, chat from the terminal, run the server and the gRPC roles.

Exit codes: 0 success; 1 the agent's turn failed; 2 a usage or configuration
error (one line on stderr naming the setting); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, cast

from pydantic import ValidationError
from pydantic_settings import SettingsError

from .agent_host import AgentHost
from .errors import ConfigError, HostError
from .events import MessageData, chunk_of, error_of
from .messages import StreamEvent
from .settings import Settings, describe_settings_error
from .telemetry import configure_logging

__all__ = ["main"]

EXIT_TURN_FAILED = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agenthost`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings(**_overrides(args))
    except (ValidationError, SettingsError) as exc:
        for line in describe_settings_error(exc):
            print(f"agenthost: configuration error: {line}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings)
    try:
        result: int = args.run(settings, args)
    except ConfigError as exc:
        print(f"agenthost: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return result


def _version() -> str:
    from . import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agenthost", description="Host AutoGen agents over HTTP, SSE and gRPC.")
    parser.add_argument("--version", action="version", version=f"agenthost {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    agents = commands.add_parser("agents", help="list the registered agents")
    agents.set_defaults(run=_agents)

    chat = commands.add_parser("chat", help="stream one reply to the terminal")
    chat.add_argument("agent")
    chat.add_argument("text")
    chat.add_argument("--conversation", default=None, help="conversation id (keeps state between calls)")
    chat.add_argument("--json", action="store_true", help="print every event as a JSON line")
    chat.set_defaults(run=_chat)

    serve = commands.add_parser("serve", help="run the HTTP/SSE server")
    serve.add_argument("--host", dest="http_host")
    serve.add_argument("--port", dest="http_port", type=int)
    serve.add_argument("--runtime", choices=("local", "grpc"))
    serve.add_argument("--host-address")
    serve.set_defaults(run=_serve)

    grpc_host = commands.add_parser("grpc-host", help="run AutoGen's gRPC host service")
    grpc_host.add_argument("--address", default="0.0.0.0:50051")
    grpc_host.set_defaults(run=_grpc_host)

    worker = commands.add_parser("worker", help="run agent types on a gRPC worker runtime")
    worker.add_argument("--host-address")
    worker.add_argument("--agents", default=None, help="comma-separated agent names (default: all)")
    worker.set_defaults(run=_worker)

    migrate = commands.add_parser(
        "migrate-env", help="print a seed server's .env (or this environment) as agenthost settings"
    )
    migrate.add_argument("env_file", nargs="?", help="the seed server's .env file (default: the environment)")
    migrate.set_defaults(run=_migrate_env)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    http = {k: v for k, v in (("host", getattr(args, "http_host", None)), ("port", getattr(args, "http_port", None)))}
    runtime = {"mode": getattr(args, "runtime", None), "host_address": getattr(args, "host_address", None)}
    overrides: dict[str, Any] = {}
    if any(v is not None for v in http.values()):
        overrides["http"] = {k: v for k, v in http.items() if v is not None}
    if any(v is not None for v in runtime.values()):
        overrides["runtime"] = {k: v for k, v in runtime.items() if v is not None}
    if getattr(args, "agents", None):
        overrides["agents"] = tuple(name.strip() for name in args.agents.split(",") if name.strip())
    return overrides


def _agents(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> None:
        async with AgentHost(settings) as host:
            for spec in host.agents():
                print(f"{spec.name:<16} {spec.description}")
            for failure in host.plugin_failures:
                print(f"plugin {failure.source} failed to load: {failure.error}", file=sys.stderr)

    asyncio.run(run())
    return 0


class _Terminal:
    """Prints a turn's events: the reply's text on stdout, tool activity and errors on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.printed = False  # text of the message in progress is on the screen
        self.failed = False

    def show(self, event: StreamEvent) -> None:
        if event.kind == "error":
            self.failed = True
        if self.as_json:
            print(json.dumps({"event": event.kind, "seq": event.seq, "data": event.data}), flush=True)
        elif event.kind == "chunk":
            self._text(chunk_of(event)["content"])
        elif event.kind == "message":
            if not self.printed:  # an agent that sends whole messages only
                self._text(cast("MessageData", event.data)["content"])
            self.printed = False
        elif event.kind in ("tool_call", "tool_result"):
            print(f"\n[{event.kind}] {json.dumps(event.data)}", file=sys.stderr, flush=True)
        elif event.kind == "error":
            error = error_of(event)
            print(f"\nerror ({error['code']}): {error['message']}", file=sys.stderr)

    def _text(self, text: str) -> None:
        print(text, end="", flush=True)
        self.printed = self.printed or bool(text)


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        terminal = _Terminal(args.json)
        async with AgentHost(settings) as host:
            async for event in host.stream(args.agent, args.text, conversation_id=args.conversation):
                terminal.show(event)
        if not args.json and not terminal.failed:
            print()
        return EXIT_TURN_FAILED if terminal.failed else 0

    try:
        return asyncio.run(run())
    except HostError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return EXIT_USAGE


def _migrate_env(settings: Settings, args: argparse.Namespace) -> int:
    from dotenv import dotenv_values

    from .core.seed_compat import translate_seed_env

    values = dotenv_values(args.env_file) if args.env_file else dict(os.environ)
    lines, notes = translate_seed_env({k: v for k, v in values.items() if v is not None})
    for line in lines:
        print(line)
    for note in notes:
        print(f"# {note}")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from .http_bridge.server import serve

    return serve(settings)


def _grpc_host(settings: Settings, args: argparse.Namespace) -> int:
    from .roles.grpc_host import run_grpc_host

    return run_grpc_host(settings, args.address)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from .roles.worker import run_worker

    return run_worker(settings)


if __name__ == "__main__":
    sys.exit(main())
