"""The ``agenthost`` command: list agents, chat from the terminal, run the server and the gRPC roles."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from .agent_host import AgentHost
from .errors import HostError
from .settings import Settings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agenthost`` console script."""
    args = _parser().parse_args(argv)
    settings = Settings(**_overrides(args))
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        result: int = args.run(settings, args)
    except KeyboardInterrupt:
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agenthost", description="Host AutoGen agents over HTTP, SSE and gRPC.")
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

    asyncio.run(run())
    return 0


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with AgentHost(settings) as host:
            async for event in host.stream(args.agent, args.text, conversation_id=args.conversation):
                if args.json:
                    print(json.dumps({"event": event.kind, "seq": event.seq, "data": event.data}), flush=True)
                elif event.kind == "chunk":
                    print(event.data.get("content", ""), end="", flush=True)
                elif event.kind in ("tool_call", "tool_result"):
                    print(f"\n[{event.kind}] {json.dumps(event.data)}", file=sys.stderr, flush=True)
                elif event.kind == "error":
                    print(f"\nerror ({event.data.get('code')}): {event.data.get('message')}", file=sys.stderr)
                    return 1
            if not args.json:
                print()
        return 0

    try:
        return asyncio.run(run())
    except HostError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 2


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from http_bridge.server import serve

    return serve(settings)


def _grpc_host(settings: Settings, args: argparse.Namespace) -> int:
    from .grpc_runtime import run_grpc_host

    return run_grpc_host(settings, args.address)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from .grpc_runtime import run_worker

    return run_worker(settings)


if __name__ == "__main__":
    sys.exit(main())
