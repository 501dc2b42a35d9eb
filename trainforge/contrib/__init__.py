"""Contributed SDK parts, as ``azureml.contrib``."""
