"""``azureml.contrib.services.aml_response``."""

from trainforge.node.raw_http import AMLResponse

__all__ = ["AMLResponse"]
