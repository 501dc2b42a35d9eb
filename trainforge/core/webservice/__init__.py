"""Scoring services, as ``azureml.core.webservice``."""

from trainforge.core.webservice.aci import AciServiceDeploymentConfiguration, AciWebservice
from trainforge.core.webservice.aks import AksServiceDeploymentConfiguration, AksWebservice
from trainforge.core.webservice.local import LocalWebservice, LocalWebserviceDeploymentConfiguration
from trainforge.core.webservice.webservice import Webservice

__all__ = [
    "AciServiceDeploymentConfiguration",
    "AciWebservice",
    "AksServiceDeploymentConfiguration",
    "AksWebservice",
    "LocalWebservice",
    "LocalWebserviceDeploymentConfiguration",
    "Webservice",
]
