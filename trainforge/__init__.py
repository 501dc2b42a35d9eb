"""trainforge: the Azure Machine Learning SDK v1 workflow on your own machines.

User code written for ``azureml`` runs after one change: ``azureml`` becomes
``trainforge`` in the imports.
"""

__version__ = "0.1.0"
