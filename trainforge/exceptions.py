"""The SDK's exceptions, under the names Azure ML code catches (``azureml.exceptions``)."""

from __future__ import annotations

import json
from typing import Any


class AzureMLException(Exception):
    """Base of every trainforge SDK error; ``message`` holds the text."""

    def __init__(
        self,
        exception_message: str = "",
        inner_exception: BaseException | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(exception_message)
        self.message = exception_message
        self.inner_exception = inner_exception

    def __str__(self) -> str:
        return self.message


TrainforgeException = AzureMLException


class UserErrorException(AzureMLException):
    """The request is wrong: a bad name, argument, path or state."""


class AuthenticationException(UserErrorException):
    pass


class WorkspaceException(UserErrorException):
    pass


class ProjectSystemException(WorkspaceException):
    """A workspace could not be found or used."""


class ExperimentExecutionException(AzureMLException):
    pass


class RunEnvironmentException(AzureMLException):
    """A run's context variables are missing (``Run.get_context(allow_offline=False)``)."""


class RunConfigurationException(UserErrorException):
    pass


class SnapshotException(UserErrorException):
    pass


class ComputeTargetException(UserErrorException):
    pass


class TrainingException(UserErrorException):
    pass


class ServiceException(AzureMLException):
    """The control plane failed; ``status_code`` and ``code`` say how."""

    def __init__(
        self,
        exception_message: str = "",
        status_code: int = 500,
        code: str = "ServiceError",
        **kwargs: Any,
    ) -> None:
        super().__init__(exception_message, **kwargs)
        self.status_code = status_code
        self.code = code


class ActivityFailedException(AzureMLException):
    """``wait_for_completion(raise_on_error=True)`` saw the run fail."""

    def __init__(self, error_details: Any = None, **kwargs: Any) -> None:
        self.error_details = error_details
        text = (
            error_details if isinstance(error_details, str) else json.dumps(error_details, indent=4)
        )
        super().__init__(f"ActivityFailedException:\n\tMessage: Activity Failed:\n{text}", **kwargs)


class KeyVaultException(UserErrorException):
    pass


class DatasetException(UserErrorException):
    pass


class WebserviceException(UserErrorException):
    pass


class ModelNotFoundException(WebserviceException):
    """No registered model has the name (and version) asked for: ``ModelNotFound``."""


ModelNotFound = ModelNotFoundException
