"""One request: wire (pure), transport (the only aiohttp importer), limiter, retry.

This layer imports nothing from the walk (``_paging``) or the waits (``_polling``).
"""
