"""A streamed ``POST /chat/completions`` sent straight on the SDK client's own aiohttp session.

The SDK spends about half a millisecond of CPU per request before the first
byte is sent: two ``model_copy`` of the options, an ``httpx.Request`` built
header by header and URL by URL, then the aiohttp transport turning it back
into an aiohttp call. That is a fifth of what the whole host spends on a
20-token reply. :class:`Wire` sends the same request (the headers
``_build_headers`` makes, the URL ``_prepare_url`` makes, the body
``openapi_dumps`` makes) on the session the SDK's ``DefaultAioHttpClient``
already pools connections in, and keeps the SDK's behaviour around it:

* retries: the SDK's own ``_should_retry`` and ``_calculate_retry_timeout``
  decide, with the client's ``max_retries``; ``x-stainless-retry-count`` counts;
* errors: a 4xx/5xx raises ``_make_status_error_from_response`` (the SDK's
  ``RateLimitError``, ``BadRequestError``... with the parsed body); a timeout
  raises ``APITimeoutError``, a network failure ``APIConnectionError``.

:meth:`Wire.of` returns None (use the SDK) for any client it cannot vouch for:
not exactly ``AsyncOpenAI``, a provider runtime, an API-key provider, workload
identity, custom auth, an idempotency header, default query parameters, a proxy
or mounted transports, or an HTTP client that is not the SDK's aiohttp one.
Headers are built once per client and attempt number, so a client whose
``api_key`` is reassigned afterwards keeps sending the old one: build a new client.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import httpx2
from openai import APIConnectionError, APITimeoutError, AsyncOpenAI
from openai._constants import RAW_RESPONSE_HEADER
from openai._models import FinalRequestOptions, SecurityOptions
from openai._utils._json import openapi_dumps
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

__all__ = ["Wire"]

_PATH = "/chat/completions"
_SECURITY = {"bearer_auth": True}
_wires: weakref.WeakKeyDictionary[AsyncOpenAI, Wire | None] = weakref.WeakKeyDictionary()


class Wire:
    """One SDK client's streamed chat-completions requests, without the SDK's per-request machinery."""

    __slots__ = ("_headers", "_sdk", "_transport", "_url")

    def __init__(self, sdk: AsyncOpenAI, transport: AiohttpTransport) -> None:
        self._sdk = sdk
        self._transport = transport
        self._url = str(sdk._prepare_url(_PATH))
        self._headers: dict[tuple[int, float | None], dict[str, str]] = {}

    @classmethod
    def of(cls, sdk: Any) -> Wire | None:
        """The wire for ``sdk``, or None if only the SDK itself can send its requests faithfully."""
        try:
            return _wires[sdk]
        except KeyError:
            pass
        except TypeError:  # not weak-referenceable: not an AsyncOpenAI
            return None
        wire = cls._build(sdk)
        _wires[sdk] = wire
        return wire

    @classmethod
    def _build(cls, sdk: Any) -> Wire | None:
        if type(sdk) is not AsyncOpenAI:
            return None
        http = sdk._client
        transport = getattr(http, "_transport", None)
        if (
            sdk._provider_runtime is not None
            or sdk._api_key_provider is not None
            or sdk.workload_identity is not None
            or sdk.custom_auth is not None
            or sdk._idempotency_header is not None
            or sdk.default_query
            or not isinstance(http, httpx2.AsyncClient)
            or http._mounts
            or http.auth is not None
            or http.params
            or type(transport) is not AiohttpTransport
            or transport.proxy is not None
            or transport.uds is not None
        ):
            return None
        wire = cls(sdk, transport)
        try:
            wire.headers(0, sdk.timeout)  # the SDK raises here for a client it would refuse (no API key, say)
        except Exception:
            return None
        return wire

    def headers(self, retries_taken: int, timeout: Any) -> dict[str, str]:
        """The headers the SDK sends on attempt ``retries_taken + 1`` of a streamed create with ``timeout``."""
        key = (retries_taken, httpx2.Timeout(timeout).read)  # x-stainless-read-timeout: the only part timeout sets
        headers = self._headers.get(key)
        if headers is None:
            options = self._options(timeout)
            built = self._sdk._build_headers(options, retries_taken=retries_taken)
            headers = self._headers[key] = dict(self._sdk._client.headers.items()) | dict(built.items())
        return headers

    def _options(self, timeout: Any, json_data: Any = None) -> FinalRequestOptions:
        return FinalRequestOptions.construct(
            method="post",
            url=_PATH,
            json_data=json_data,
            headers={RAW_RESPONSE_HEADER: "stream"},
            timeout=timeout,
            security=cast(SecurityOptions, _SECURITY),
        )

    async def open(self, body: dict[str, Any], extra_body: Any, limit: Any) -> aiohttp.ClientResponse:
        """Send ``body`` (merged with ``extra_body``) with timeout ``limit``; the 2xx response, its body unread.

        Raises the SDK's errors."""
        sdk = self._sdk
        timeout = limit if limit is None or isinstance(limit, (int, float, httpx2.Timeout)) else sdk.timeout
        data = openapi_dumps({**body, **extra_body} if extra_body else body)
        limits = httpx2.Timeout(timeout if timeout is not None else None)
        client_timeout = aiohttp.ClientTimeout(sock_connect=limits.connect, sock_read=limits.read, connect=limits.pool)
        session = self._transport.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self._transport.client = self._transport.get_client()
        max_retries = sdk.max_retries
        for retries_taken in range(max_retries + 1):
            remaining = max_retries - retries_taken
            headers = self.headers(retries_taken, timeout)
            try:
                with map_aiohttp_exceptions():  # as the SDK's transport does: its quirks (refused = timeout) too
                    response = await session.post(
                        self._url, data=data, headers=headers, timeout=client_timeout, allow_redirects=False
                    )
            except httpx2.TimeoutException as exc:
                if remaining > 0:
                    await self._sleep(remaining, timeout, None)
                    continue
                raise APITimeoutError(request=self.request(headers)) from exc
            except httpx2.HTTPError as exc:
                if remaining > 0:
                    await self._sleep(remaining, timeout, None)
                    continue
                raise APIConnectionError(request=self.request(headers)) from exc
            if response.status < 400:
                return response
            try:
                content = await response.read()
            finally:
                response.release()
            failed = httpx2.Response(
                response.status, headers=list(response.raw_headers), content=content, request=self.request(headers)
            )
            if remaining > 0 and sdk._should_retry(failed):
                await self._sleep(remaining, timeout, failed.headers)
                continue
            raise sdk._make_status_error_from_response(failed) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _sleep(self, remaining: int, limit: Any, headers: httpx2.Headers | None) -> None:
        await asyncio.sleep(self._sdk._calculate_retry_timeout(remaining, self._options(limit), headers))

    def request(self, headers: dict[str, str]) -> httpx2.Request:
        """An ``httpx`` request like the one sent, for the SDK's error classes."""
        return httpx2.Request("POST", self._url, headers=headers)


async def lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The lines of a streamed response body, without line endings; a failed read raises what the SDK's would.

    Reads whatever arrived and splits it here: aiohttp's ``readline`` costs a flow-control
    round (``resume_reading``, an empty ``data_received``) per line, ~50 per 20-token reply.
    """
    rest = b""
    with map_aiohttp_exceptions():  # the SDK's transport maps aiohttp's errors to httpx's: so do we
        async for block in response.content.iter_any():
            *complete, rest = (rest + block).split(b"\n")
            for line in complete:
                yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest
