"""Runs: every turn has a server-made id and an append-only event log that streams, resumes and polls read.

:class:`Run` is one turn and its log; :class:`RunRegistry` keeps this process's
runs (ended ones for ``runs.keep_seconds``); :class:`StreamSink` and
:class:`StreamRouter` append the events agents publish to their run.
"""

from .registry import RunRegistry
from .run import TERMINAL_STATUS, Run, RunStatus, Slice
from .sink import StreamRouter, StreamSink

__all__ = ["TERMINAL_STATUS", "Run", "RunRegistry", "RunStatus", "Slice", "StreamRouter", "StreamSink"]
