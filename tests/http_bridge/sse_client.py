"""A small SSE client for the tests: parses frames from a real aiohttp response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class Frame:
    """One SSE frame; ``comment`` is set for ``: ...`` lines."""

    event: str | None = None
    id: str | None = None
    data_lines: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    def json(self) -> Any:
        return json.loads(self.data)


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """Every frame (comments included) until the server ends the stream."""
    frame = Frame()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if frame.data_lines or frame.event or frame.id:
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            yield Frame(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            _apply(frame, name, value[1:] if value.startswith(" ") else value)


def _apply(frame: Frame, name: str, value: str) -> None:
    if name == "data":
        frame.data_lines.append(value)
    elif name == "event":
        frame.event = value
    elif name == "id":
        frame.id = value


async def events(response: aiohttp.ClientResponse) -> list[Frame]:
    """The data frames (no comments) of the whole stream."""
    return [frame async for frame in frames(response) if frame.comment is None]
