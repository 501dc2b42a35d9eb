"""The Ray backend's name and its cluster settings: light enough for the SDK to import
(Ray itself is imported only by the backend, when it connects)."""

from __future__ import annotations

from pydantic import BaseModel, Field

RAY = "ray"


class RaySettings(BaseModel):
    """What a Ray-backed cluster's settings name, beside the SDK's own cluster settings."""

    ray_address: str = Field(
        min_length=1, description="the Ray cluster's address, such as '10.0.0.4:6379'"
    )
    ray_auth_token_path: str | None = Field(
        default=None, description="the Ray auth token file (default: Ray's own lookup)"
    )
