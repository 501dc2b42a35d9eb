"""A small training script, written for Azure ML: it runs unchanged on trainforge.

It fits y = w*x + b by gradient descent on generated data (no download, no extra
packages), logs the loss each epoch and saves the model under ./outputs.
"""

import argparse
import json
import os
import random

from trainforge.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--learning-rate", type=float, default=0.05)
args = parser.parse_args()

run = Run.get_context()
random.seed(0)
data = [(x / 100, 3.0 * x / 100 + 0.5 + random.gauss(0, 0.05)) for x in range(100)]

w, b = 0.0, 0.0
for epoch in range(args.epochs):
    grad_w = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
    grad_b = sum(2 * (w * x + b - y) for x, y in data) / len(data)
    w -= args.learning_rate * 10 * grad_w
    b -= args.learning_rate * 10 * grad_b
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    run.log("loss", loss)
    print(f"epoch {epoch:3d}  loss {loss:.5f}")

run.log("w", w)
run.log("b", b)
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"w": w, "b": b}, f)
print(f"model: y = {w:.3f} * x + {b:.3f}")
