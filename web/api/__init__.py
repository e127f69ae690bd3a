"""The JSON API under ``/api/v1``: its handlers by area, the request and response models
(``models``), their JSON schemas and a body's problems (``schemas``), the OpenAPI document built
from the route table (``openapi``). Stands on ``web.core``; reuses an area's page helpers (its
form rules, the class door's facts) from ``web.pages``."""
