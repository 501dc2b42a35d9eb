"""The SDK's ``azureml.automl.core`` names that AutoML code imports."""
