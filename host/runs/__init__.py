"""Runs: every turn has a server-made id and an append-only event log that streams, resumes and polls read.

:class:`Run` is one turn and its log; :class:`RunRegistry` keeps this process's
runs (ended ones for ``runs.keep_seconds``); :class:`StreamSink` and
:class:`StreamRouter` append the events agents publish to their run; :class:`RedisRuns`
shares runs between replicas (``runs.store=redis``).
"""

from .redis_mirror import RedisRuns, RemoteRun
from .registry import RunRegistry
from .run import TERMINAL_STATUS, Run, RunStatus, RunView, Slice
from .sink import StreamRouter, StreamSink

__all__ = [
    "TERMINAL_STATUS",
    "RedisRuns",
    "RemoteRun",
    "Run",
    "RunRegistry",
    "RunStatus",
    "RunView",
    "Slice",
    "StreamRouter",
    "StreamSink",
]
