"""Groups and their members: staff create groups and import members from CSV or XLSX."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
