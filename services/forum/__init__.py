"""forum: accounts, communities, threads, posts and reports (aiohttp + asyncpg)."""
