"""Raw HTTP entry scripts, as ``azureml.contrib.services``."""

from trainforge.node.raw_http import AMLRequest, AMLResponse, rawhttp

__all__ = ["AMLRequest", "AMLResponse", "rawhttp"]
