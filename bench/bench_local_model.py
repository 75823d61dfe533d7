"""The offline model's speed through the host against raw llama.cpp, same GGUF, same run.

Run: ``python -m bench.bench_local_model [--rounds 3] [--tokens 200] [--threads 2]``

* **raw**: a fresh process loads the GGUF with ``llama_cpp.Llama`` and streams a
  completion on the thread that loaded it (llama.cpp at its best, nothing else running).
* **host**: ``AgentHost.stream`` of the ``assistant`` agent (AgentChat ``AssistantAgent``,
  token streaming) on the offline backend: the model's own process, its HTTP API,
  AutoGen's OpenAI client, AgentChat, the runtime and the event stream.

Both generate the same number of tokens (greedy, ``max_tokens`` fixed) from the same
prompt. Speed is generation tokens per second from the first token to the last (the
prompt's evaluation is reported apart, as time to first token). Rounds alternate raw and
host; the medians and their ratio are printed. Goal: host/raw >= 0.80.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from agenthost import AgentHost, Settings
from agenthost.messages import GenerationOptions
from agenthost.models.local import default_model_path

PROMPT = "Write a long story about a dragon and a knight."

RAW = """
import json, sys, time
from llama_cpp import Llama
path, threads, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
llm = Llama(model_path=path, n_threads=threads, n_ctx=2048, verbose=False)
messages = [{"role": "system", "content": "You are a helpful assistant. Answer clearly and concisely."},
            {"role": "user", "content": prompt}]
start, first, count = time.perf_counter(), None, 0
for chunk in llm.create_chat_completion(messages=messages, stream=True, max_tokens=tokens, temperature=0.0):
    if chunk["choices"][0]["delta"].get("content"):
        count += 1
        first = first or time.perf_counter()
end = time.perf_counter()
print(json.dumps({"tokens": count, "first": first - start, "seconds": end - first}))
"""


@dataclass(frozen=True)
class Run:
    tokens: int
    first: float  # seconds to the first token
    seconds: float  # first token to last

    @property
    def rate(self) -> float:
        return (self.tokens - 1) / self.seconds


def raw_run(threads: int, tokens: int) -> Run:
    path = default_model_path()
    assert path is not None, "install the offline model: scripts/install"
    args = [sys.executable, "-c", RAW, str(path), str(threads), str(tokens), PROMPT]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300).stdout
    data = json.loads(out)
    return Run(data["tokens"], data["first"], data["seconds"])


async def host_run(host: AgentHost, tokens: int) -> Run:
    options = GenerationOptions(max_tokens=tokens, temperature=0.0)
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    async for event in host.stream("assistant", PROMPT, options=options):
        if event.kind == "chunk":
            last = time.perf_counter()
            first = first or last
        elif event.kind == "done":
            count = event.data["usage"]["completion_tokens"]
        elif event.kind == "error":
            raise RuntimeError(event.data)
    return Run(count, first - start, last - first)


async def main(rounds: int, tokens: int, threads: int) -> None:
    settings = Settings(
        model={"provider": "local", "local_threads": threads, "max_tokens": tokens},
        agents=("assistant",),
        entry_points=False,
    )
    raws: list[Run] = []
    hosts: list[Run] = []
    async with AgentHost(settings) as host:
        await host_run(host, 8)  # warm: the process is up, the model loaded, the prompt path taken once
        for _ in range(rounds):
            raws.append(await asyncio.to_thread(raw_run, threads, tokens))
            hosts.append(await host_run(host, tokens))
    raw = statistics.median(run.rate for run in raws)
    hosted = statistics.median(run.rate for run in hosts)
    print(f"offline model, {tokens} tokens, {threads} threads, {rounds} rounds (median)")
    for name, runs, rate in (("raw llama.cpp", raws, raw), ("through the host", hosts, hosted)):
        first_ms = statistics.median(run.first for run in runs) * 1000
        print(f"  {name:<18} {rate:7.1f} tokens/s   first token {first_ms:6.1f} ms")
    print(f"  ratio host/raw     {hosted / raw:7.2f}   (goal >= 0.80)")
    print(f"  tokens generated   raw {[r.tokens for r in raws]}  host {[r.tokens for r in hosts]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.tokens, args.threads))
