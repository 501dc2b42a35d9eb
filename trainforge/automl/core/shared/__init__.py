"""The SDK's ``azureml.automl.core.shared`` names that AutoML notebooks import."""
