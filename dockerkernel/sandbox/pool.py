"""A small pool of pre-started, single-use cell containers for one (image, language, limits).

Each container is created, attached and started ahead of time, its runner (and, for Python
and Node, the interpreter) already loaded and blocked on stdin. A cell *takes* one (it is
never put back); the pool refills in the background, off the cell's critical path.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
from collections.abc import Callable

from ..cells import CellRequest
from .engine import CellContainer

log = logging.getLogger(__name__)


class ContainerPool:
    """Ready containers for one pool key, refilled in the background."""

    def __init__(self, create: Callable[[], object], size: int, executor: concurrent.futures.Executor):
        """``create`` makes one started container (blocking); ``size`` is the target."""
        self._create = create
        self.size = size
        self._executor = executor
        self._ready: collections.deque = collections.deque()
        self._starting = 0
        self._futures: set = set()
        self._retired = False
        self._retire_late: Callable | None = None
        self.failures = 0
        self.last_error: BaseException | None = None

    def take(self):
        """Pop a ready container, or None."""
        return self._ready.popleft() if self._ready else None

    def __len__(self) -> int:
        """Ready containers."""
        return len(self._ready)

    def refill(self) -> None:
        """Start creating containers up to the target size (call from the event loop)."""
        if self._retired:
            return
        loop = asyncio.get_running_loop()
        # after repeated failures (image missing, daemon down) stop hammering the daemon;
        # the cold path reports the error to the user
        while self._starting + len(self._ready) < self.size and self.failures < 3:
            self._starting += 1
            future = loop.run_in_executor(self._executor, self._create)
            self._futures.add(future)
            future.add_done_callback(self._created)

    def pending(self) -> list:
        """Creations still in flight (shutdown waits for them, then removes what they made)."""
        return list(self._futures)

    def _created(self, future: asyncio.Future) -> None:
        self._starting -= 1
        self._futures.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.failures += 1
            self.last_error = exc
            log.warning("pool container could not start: %s", exc)
            return
        self.failures = 0
        container = future.result()
        if self._retired:
            # the pool was retired while this one was starting
            if self._retire_late:
                self._retire_late(container)
            return
        self._ready.append(container)

    def drain(self, retire: Callable[[object], None]) -> None:
        """Retire every ready container (and those still starting, when they arrive)."""
        self._retired = True
        self._retire_late = retire
        while self._ready:
            retire(self._ready.popleft())


class PoolsMixin:
    """The pools of one ``Sandbox``, one per (image, language, container limits)."""

    def _pool_key(self, request: CellRequest) -> tuple:
        return (request.image, request.language.name, request.limits.container_key())

    def _pool_for(self, request: CellRequest) -> ContainerPool:
        key = self._pool_key(request)
        pool = self._pools.get(key)
        if pool is None:
            # a config change (limits, image, runtime) retires the containers built the old way
            for old_key in [k for k in self._pools if k[1] == request.language.name]:
                self._pools.pop(old_key).drain(self._retire)
            language, image, limits = request.language, request.image, request.limits
            pool = ContainerPool(
                create=lambda: self._create_for_pool(language, image, limits),
                size=self.pool_size,
                executor=self._executor,
            )
            self._pools[key] = pool
        return pool

    def warm_up(self, request: CellRequest) -> None:
        """Start filling the pool for cells like ``request`` (call from the event loop)."""
        if self.pool_size > 0 and not self.closed:
            self._pool_for(request).refill()

    async def _acquire(self, request: CellRequest) -> CellContainer:
        """A fresh container for this cell: from the pool when one is ready, else cold."""
        if self.pool_size > 0:
            pool = self._pool_for(request)
            while True:
                container = pool.take()
                if container is None:
                    break
                if container.looks_alive():
                    # refill once this cell has answered (or after a moment if it runs long):
                    # creating a container costs the daemon CPU the cell would compete for
                    asyncio.get_running_loop().call_later(self.refill_delay, pool.refill)
                    container.from_pool = True
                    return container
                self._retire(container)  # died while waiting (daemon restart, ...)
                await self._call(self._revive_holder)
            pool.refill()
        container = await self._call(self._create_started, request.language, request.image, request.limits)
        if self.pool_size > 0 and not self.closed:
            pool.failures = 0  # the daemon works again (or the image exists now): refill
            pool.refill()
        return container

