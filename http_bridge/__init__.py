"""The aiohttp bridge: native chat API, SSE, OpenAI-compatible facade."""
