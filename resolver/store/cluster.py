"""What Redis Cluster needs of its own: a cluster client that connects before it routes a command.

The stores themselves work on either (see `resolver.store.redis_store`).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster


class ClusterClient(RedisCluster):
    """redis-py's asyncio cluster client, connected before it routes a command.

    redis-py (8.1) picks a command's route before it connects: a command sent while the client has no slot
    map yet (the first commands of a process, or any sent just after the client dropped its connections
    to re-read the slot map) goes to a default node, draws MOVED, and every few MOVED replies the client
    closes all its connections, failing the commands in flight on them. Connecting first avoids that."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)
