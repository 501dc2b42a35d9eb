"""Training configurations, as ``azureml.train``: Estimators (and later HyperDrive)."""
