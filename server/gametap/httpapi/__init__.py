"""HTTP (aiohttp): health and the JSON API."""
