"""What a conversation has seen, for clients that send the whole history every time (Open WebUI, any OpenAI client).

A conversation fed by such a client must not get its history twice. After each
turn the agent keeps a fingerprint of the conversation so far (every message
the client sent, then the reply). The next request continues the conversation
with only its last message when everything before that is exactly what the
fingerprint covers; otherwise (the client edited a message, regenerated a reply,
or the saved state is gone) the conversation starts over from the history the
request carries. Text is compared with surrounding whitespace stripped: a client
may trim what it shows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..messages import ChatTurn

__all__ = ["Transcript"]

_FIELD = "transcript"


@dataclass(frozen=True)
class Transcript:
    """The fingerprint of every message a conversation has seen, its replies included."""

    digest: str

    @classmethod
    def of(cls, turns: Iterable[tuple[str, str]]) -> Transcript:
        hasher = hashlib.sha256()
        for role, content in turns:
            hasher.update(f"{role}\x1f{content.strip()}\x1e".encode())
        return cls(hasher.hexdigest())

    @classmethod
    def after(cls, messages: Sequence[ChatTurn], reply: str) -> Transcript:
        """The conversation once ``messages`` were answered with ``reply``."""
        return cls.of([*_pairs(messages), ("assistant", reply)])

    def continued_by(self, messages: Sequence[ChatTurn]) -> bool:
        """Whether ``messages`` is this conversation plus one new user message."""
        return bool(messages) and messages[-1].role == "user" and Transcript.of(_pairs(messages[:-1])) == self

    def record(self) -> Mapping[str, Any]:
        return {_FIELD: self.digest}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> Transcript | None:
        digest = None if record is None else record.get(_FIELD)
        return cls(digest) if isinstance(digest, str) else None


def _pairs(messages: Sequence[ChatTurn]) -> list[tuple[str, str]]:
    return [(message.role, message.content) for message in messages]
