"""LocalWebservice: a scoring service on this machine (``azureml.core.webservice.LocalWebservice``).

It is a real scoring process (uvicorn) in the model's environment, kept up by a host
process of the control plane: ``POST /score``, ``GET /``, ``GET /swagger.json`` at
``http://localhost:<port>``; no Docker needed.
"""

from __future__ import annotations

from trainforge.core._info import InfoField
from trainforge.core.webservice.webservice import Webservice
from trainforge.exceptions import WebserviceException
from trainforge.schemas.services import ServiceState


class LocalWebserviceDeploymentConfiguration:
    """What ``LocalWebservice.deploy_configuration`` makes: the port (a free one when None)."""

    def __init__(self, port: int | None = None) -> None:
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise WebserviceException(f"port: {port!r} is not a port number (1-65535)")
        self.port = port

    def validate_configuration(self) -> None:
        return None


class LocalWebservice(Webservice):
    """A service deployed with ``LocalWebservice.deploy_configuration()``; ``state`` is the
    SDK's local one: 'deploying', 'running', 'unhealthy' (restarting) or 'failed'."""

    _webservice_type = "Local"

    @staticmethod
    def deploy_configuration(port: int | None = None) -> LocalWebserviceDeploymentConfiguration:
        return LocalWebserviceDeploymentConfiguration(port=port)

    port = InfoField()

    @property
    def state(self) -> str:
        return ServiceState(self._info.state).local

    def wait_for_deployment(
        self, show_output: bool = False, timeout_sec: float | None = None
    ) -> None:
        super().wait_for_deployment(show_output=show_output, timeout_sec=timeout_sec)

    def get_logs(self, num_lines: int = 5000, init: bool = False, raw: bool = False) -> str:
        return super().get_logs(num_lines=num_lines)

    def delete(
        self, delete_cache: bool = True, delete_image: bool = False, delete_volume: bool = True
    ) -> None:
        super().delete()

    def reload(self, wait: bool = False) -> None:
        """Copy the entry script and source directory again (no environment rebuild) and
        start the scoring process from them; returns once it serves, so the next
        ``run`` reaches the new code."""
        if self.inference_config is None:
            raise WebserviceException(
                "reload: this object does not know its InferenceConfig (it was looked up, not "
                "deployed here); use update(inference_config=...)"
            )
        self.update(inference_config=self.inference_config, wait=True)
