"""``azureml.contrib.services.aml_request``."""

from trainforge.node.raw_http import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
