"""ResourceConfiguration: what a model needs to serve (``azureml.core.resource_configuration``)."""

from __future__ import annotations

from typing import Any

from trainforge.schemas.models import ResourceConfigurationSpec


class ResourceConfiguration:
    """The cores (``cpu``), memory (``memory_in_gb``) and GPUs a registered model asks for."""

    def __init__(
        self, cpu: float | None = None, memory_in_gb: float | None = None, gpu: int | None = None
    ) -> None:
        self.cpu = cpu
        self.memory_in_gb = memory_in_gb
        self.gpu = gpu

    def serialize(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload: dict[str, Any]) -> ResourceConfiguration:
        return ResourceConfiguration(
            payload.get("cpu"),
            payload.get("memoryInGB", payload.get("memory_in_gb")),
            payload.get("gpu"),
        )

    def to_spec(self) -> ResourceConfigurationSpec:
        """As the REST API takes it (``Model.register``, ``model.update``)."""
        return ResourceConfigurationSpec(cpu=self.cpu, memory_in_gb=self.memory_in_gb, gpu=self.gpu)

    def __repr__(self) -> str:
        return f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb}, gpu={self.gpu})"
