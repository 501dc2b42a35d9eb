"""Scoring services, as ``azureml.core.webservice``."""

from trainforge.core.webservice.local import LocalWebservice, LocalWebserviceDeploymentConfiguration
from trainforge.core.webservice.webservice import Webservice

__all__ = ["LocalWebservice", "LocalWebserviceDeploymentConfiguration", "Webservice"]
