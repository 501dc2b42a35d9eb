"""The SDK's ``azureml.automl.runtime`` names that AutoML notebooks import."""
