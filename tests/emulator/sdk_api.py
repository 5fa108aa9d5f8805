"""One face over the SDK's sync and async Interactions resources, so a test runs against both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from google import genai


class SyncApi:
    mode = "sync"

    def __init__(self, make: Callable[[], genai.Client]) -> None:
        self.client = make()
        self.resource = self.client.interactions

    def create(self, **kwargs: Any) -> Any:
        return self.resource.create(**kwargs)

    def get(self, interaction_id: str, **kwargs: Any) -> Any:
        return self.resource.get(interaction_id, **kwargs)

    def cancel(self, interaction_id: str, **kwargs: Any) -> Any:
        return self.resource.cancel(interaction_id, **kwargs)

    def delete(self, interaction_id: str, **kwargs: Any) -> Any:
        return self.resource.delete(interaction_id, **kwargs)

    def stream(self, interaction_id: str, **kwargs: Any) -> list[Any]:
        """All events of get(stream=True), read to the end."""
        with self.resource.get(interaction_id, stream=True, **kwargs) as events:
            return list(events)

    def create_stream(self, **kwargs: Any) -> list[Any]:
        with self.resource.create(stream=True, **kwargs) as events:
            return list(events)

    def stream_into(self, sink: list[Any], interaction_id: str, **kwargs: Any) -> None:
        """Read get(stream=True) into `sink` as events arrive (run in a thread)."""
        with self.resource.get(interaction_id, stream=True, **kwargs) as events:
            for event in events:
                sink.append(event)


class AsyncApi:
    """The async resource; each call runs in its own event loop with its own client."""

    mode = "async"

    def __init__(self, make: Callable[[], genai.Client]) -> None:
        self.make = make

    def _run(self, call: Callable[[Any], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            client = self.make()
            try:
                return await call(client.aio.interactions)
            finally:
                await client.aio.aclose()

        return asyncio.run(main())

    def create(self, **kwargs: Any) -> Any:
        return self._run(lambda r: r.create(**kwargs))

    def get(self, interaction_id: str, **kwargs: Any) -> Any:
        return self._run(lambda r: r.get(interaction_id, **kwargs))

    def cancel(self, interaction_id: str, **kwargs: Any) -> Any:
        return self._run(lambda r: r.cancel(interaction_id, **kwargs))

    def delete(self, interaction_id: str, **kwargs: Any) -> Any:
        return self._run(lambda r: r.delete(interaction_id, **kwargs))

    def stream(self, interaction_id: str, **kwargs: Any) -> list[Any]:
        async def call(r: Any) -> list[Any]:
            events = await r.get(interaction_id, stream=True, **kwargs)
            try:
                return [event async for event in events]
            finally:
                await events.close()

        return self._run(call)

    def create_stream(self, **kwargs: Any) -> list[Any]:
        async def call(r: Any) -> list[Any]:
            events = await r.create(stream=True, **kwargs)
            try:
                return [event async for event in events]
            finally:
                await events.close()

        return self._run(call)

    def stream_into(self, sink: list[Any], interaction_id: str, **kwargs: Any) -> None:
        async def call(r: Any) -> None:
            events = await r.get(interaction_id, stream=True, **kwargs)
            try:
                async for event in events:
                    sink.append(event)
            finally:
                await events.close()

        self._run(call)
