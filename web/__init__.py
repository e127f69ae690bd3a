"""The aiohttp application for people and the portal, and the wiring of everything."""
