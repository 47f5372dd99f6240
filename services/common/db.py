"""asyncpg pool per service, pinned to the service's own schema.

Each service owns one PostgreSQL schema. The pool sets ``search_path`` to it,
so shared plumbing (outbox, inbox) writes unqualified table names and lands in
the right schema without any SQL built by string formatting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from services.common.errors import InfrastructureError

# Errors that mean "the database is unreachable or restarting", not "this query is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    ConnectionError,
    OSError,
)


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool whose connections see ``schema`` first."""
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings={"search_path": schema, "application_name": f"haven-{schema}"},
            command_timeout=30,
        )
    except CONNECTION_ERRORS as e:
        raise InfrastructureError(f"cannot connect to PostgreSQL for schema {schema}") from e
    assert pool is not None
    return pool


async def close_pool(pool: asyncpg.Pool, timeout: float = 10.0) -> None:
    """Close gracefully; terminate if in-flight queries do not finish in time.

    Survives cancellation of the caller (as asyncpg's own ``Pool.close``
    recommends): a shutdown interrupted half-way still terminates connections.
    """
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except BaseException:
        pool.terminate()
        raise


@contextlib.asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Acquire a connection for reads, translating outages (so views answer 503, not 500)."""
    try:
        async with pool.acquire() as conn:
            yield conn
    except CONNECTION_ERRORS as e:
        raise InfrastructureError("PostgreSQL connection lost") from e


@contextlib.asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """Acquire a connection and run a transaction, translating outages."""
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                yield conn
    except CONNECTION_ERRORS as e:
        raise InfrastructureError("PostgreSQL connection lost") from e


async def ping(pool: asyncpg.Pool) -> bool:
    """True when PostgreSQL answers within a second (readiness probe)."""
    try:
        async with pool.acquire(timeout=1.0) as conn:
            return await conn.fetchval("SELECT 1", timeout=1.0) == 1
    except Exception:  # noqa: BLE001 - readiness only reports, never raises
        return False
