"""Helpers shared by the emulator tests: a fake clock and a spec-validating HTTP client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import aiohttp

from tests._openapi import has_operation, validate_component, validate_response

TEST_KEY = "sk_test_emulator"
LIVE_KEY = "sk_emulator_live"
START = datetime(2024, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Reply(NamedTuple):
    status: int
    body: Any
    headers: Any


class Api:
    """Requests to the emulator; every reply to a spec operation is validated against the spec."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> Reply:
        async with self.session.request(
            method,
            self.base_url + path,
            json=json,
            params=params,
            data=data,
            headers=headers,
            **({"timeout": timeout} if timeout else {}),
        ) as response:
            body = await response.json(content_type=None)
            reply = Reply(response.status, body, response.headers)
        template = spec_template(path)
        if has_operation(method, template):
            validate_response(method, template, reply.status, reply.body)
        else:  # an unknown route or method: still a DR error body
            validate_component("Errors", reply.body)
        return reply

    async def get(self, path: str, params: Any = None, **kwargs: Any) -> Reply:
        return await self.request("GET", path, params=params, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json=json, **kwargs)


def spec_template(path: str) -> str:
    parts = path.split("?")[0].split("/")
    return "/".join([*parts[:2], "{id}"]) if len(parts) == 3 else "/".join(parts)


def auth(key: str = TEST_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_of(reply: Reply) -> tuple[int, str, str | None]:
    """(status, code, parameter) of a DR error reply."""
    error = reply.body["errors"][0]
    return reply.status, error["code"], error.get("parameter")
