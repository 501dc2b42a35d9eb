"""File names of an AutoML iteration's outputs, as the SDK's ``constants`` name them."""

MODEL_PATH = "outputs/model.pkl"
MODEL_PATH_ONNX = "outputs/model.onnx"
# What ``OnnxInferenceHelper`` needs besides the model: the input columns and their kinds,
# the task, the classes.
MODEL_RESOURCE_PATH_ONNX = "outputs/model_onnx.json"
