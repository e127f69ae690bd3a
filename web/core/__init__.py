"""What every page and API route stands on: the app factory and its wiring, the typed app keys,
settings, languages and labels, the clock, the visibility policy, the error table, rate limits,
the request helpers and the middlewares. Imports nothing from ``web.pages`` or ``web.api`` (only
the app factory, ``web.core.app``, which mounts them)."""
