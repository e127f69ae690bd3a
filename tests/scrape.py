"""A Sabaq process's /metrics read as Prometheus reads it (``prometheus_client``'s parser)."""

from __future__ import annotations

from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families

# (sample name, its labels) → value
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    """The samples at ``url`` (a process's /metrics), which must answer 200 in Prometheus's
    text format."""
    async with ClientSession() as http, http.get(url, headers=headers or {}) as resp:
        text = await resp.text()
        assert resp.status == 200, text
        assert resp.content_type == "text/plain"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}
