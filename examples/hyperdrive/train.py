"""A training script to sweep: logs `accuracy` once per epoch; the best learning rate is 0.01."""

import argparse
import math
import time

from trainforge.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.1)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--epochs", type=int, default=8)
args = parser.parse_args()

run = Run.get_context()
# A made-up learning curve: how close log10(lr) is to -2 sets the ceiling, larger batches
# learn a little slower.
ceiling = 0.95 - 0.15 * (math.log10(args.learning_rate) + 2) ** 2
for epoch in range(1, args.epochs + 1):
    time.sleep(0.25)  # one "epoch" of training
    run.log("accuracy", ceiling * (1 - math.exp(-epoch * 32 / args.batch_size / 2)))
print(f"lr={args.learning_rate} batch={args.batch_size} final accuracy logged")
