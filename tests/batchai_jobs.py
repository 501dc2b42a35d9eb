"""What the Batch AI tests give their jobs: a storage account folder and configuration.json
of the recipes' shape, fake MNIST files (idx.gz, as the recipes' datasets), and training
scripts of our own in the shapes the recipes run (a distributed TensorFlow script with the
flags of mnist_replica.py)."""

from __future__ import annotations

import gzip
import json
import struct
import textwrap
import uuid
from pathlib import Path

import numpy as np

STORAGE_ACCOUNT = "tfbatchaistore"
STORAGE_KEY = "a2V5LW9mLXRoZS10ZXN0LWFjY291bnQ="
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (2051, (600, 28, 28)),
    "train-labels-idx1-ubyte.gz": (2049, (600,)),
    "t10k-images-idx3-ubyte.gz": (2051, (100, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": (2049, (100,)),
}


def write_configuration(path: Path, workspace: str, resource_group: str) -> Path:
    """configuration.json as the recipes' notebooks read it."""
    path.write_text(
        json.dumps(
            {
                "subscription_id": str(uuid.uuid4()),
                "aad_client_id": "client-id",
                "aad_secret": "client-secret",
                "aad_tenant": "tenant",
                "location": "eastus",
                "resource_group": resource_group,
                "workspace": workspace,
                "storage_account": {"name": STORAGE_ACCOUNT, "key": STORAGE_KEY},
                "admin_user": {"name": "demoUser", "password": "Dem0Pa$$w0rd"},
            }
        )
    )
    return path


def write_fake_mnist(folder: Path) -> None:
    """The four MNIST files in the idx format, gzipped: images whose label is their
    brightest quarter, so a linear model can learn them."""
    rng = np.random.default_rng(7)
    labels: dict[str, np.ndarray] = {}
    for name, (magic, shape) in MNIST_FILES.items():
        part = name.split("-")[0]
        if magic == 2049:
            data = labels.setdefault(part, rng.integers(0, 10, shape[0]).astype(np.uint8))
        else:
            data = rng.integers(0, 60, shape).astype(np.uint8)
            found = labels.setdefault(part, rng.integers(0, 10, shape[0]).astype(np.uint8))
            for i, label in enumerate(found):
                data[
                    i,
                    (label % 4) * 7 : (label % 4) * 7 + 7,
                    (label // 4) * 9 : (label // 4) * 9 + 9,
                ] = 255
        header = struct.pack(">I" + "I" * len(shape), magic, *shape)
        with gzip.open(folder / name, "wb") as out:
            out.write(header + data.tobytes())


# A distributed TensorFlow trainer with mnist_replica.py's flags (reference 5.1), written
# for TensorFlow 2 in graph mode: one parameter server holds a softmax model, the workers
# train it step by step until the global step reaches --train_steps, worker 0 (the chief)
# initialises it, saves checkpoints to --checkpoint_dir and every worker writes an events
# file to --log_dir.
TF_REPLICA = textwrap.dedent(
    """
    import argparse, gzip, os, sys, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    p = argparse.ArgumentParser()
    p.add_argument("--job_name", required=True)
    p.add_argument("--task_index", type=int, required=True)
    p.add_argument("--ps_hosts", default="localhost:2222")
    p.add_argument("--worker_hosts", default="localhost:2223,localhost:2224")
    p.add_argument("--data_dir", default="/tmp/mnist-data")
    p.add_argument("--checkpoint_dir", default="")
    p.add_argument("--log_dir", default="")
    p.add_argument("--num_gpus", type=int, default=1)
    p.add_argument("--train_steps", type=int, default=200)
    p.add_argument("--batch_size", type=int, default=100)
    p.add_argument("--learning_rate", type=float, default=0.5)
    args = p.parse_args()
    print("FLAGS", vars(args), flush=True)
    cluster = tf.train.ClusterSpec(
        {"ps": args.ps_hosts.split(","), "worker": args.worker_hosts.split(",")}
    )
    server = tf.distribute.Server(cluster, job_name=args.job_name, task_index=args.task_index)
    if args.job_name == "ps":
        server.join()

    def read(name, magic):
        with gzip.open(os.path.join(args.data_dir, name)) as f:
            data = f.read()
        dims = 3 if magic == 2051 else 1
        shape = np.frombuffer(data[4 : 4 + 4 * dims], dtype=">u4")
        return np.frombuffer(data[4 + 4 * dims :], dtype=np.uint8).reshape(shape)

    images = read("train-images-idx3-ubyte.gz", 2051).reshape(-1, 784) / 255.0
    labels = np.eye(10)[read("train-labels-idx1-ubyte.gz", 2049)]
    val_x = read("t10k-images-idx3-ubyte.gz", 2051).reshape(-1, 784) / 255.0
    val_y = np.eye(10)[read("t10k-labels-idx1-ubyte.gz", 2049)]
    tf.compat.v1.disable_eager_execution()
    v1 = tf.compat.v1
    is_chief = args.task_index == 0
    with v1.device(v1.train.replica_device_setter(
        worker_device=f"/job:worker/task:{args.task_index}", cluster=cluster
    )):
        global_step = v1.train.get_or_create_global_step()
        x = v1.placeholder(tf.float32, [None, 784])
        y = v1.placeholder(tf.float32, [None, 10])
        w = v1.get_variable("w", [784, 10], initializer=v1.zeros_initializer())
        b = v1.get_variable("b", [10], initializer=v1.zeros_initializer())
        logits = tf.matmul(x, w) + b
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
        train = v1.train.GradientDescentOptimizer(args.learning_rate).minimize(loss, global_step=global_step)
        init = v1.global_variables_initializer()
        saver = v1.train.Saver()
    config = v1.ConfigProto(allow_soft_placement=True, device_filters=["/job:ps", f"/job:worker/task:{args.task_index}"])
    writer = v1.summary.FileWriter(args.log_dir or ".")
    started = time.time()
    with v1.Session(server.target, config=config) as sess:
        if is_chief:
            sess.run(init)
        while not sess.run(v1.is_variable_initialized(global_step)):
            time.sleep(0.1)
        rng = np.random.default_rng(args.task_index)
        step = 0
        last_save = time.time()
        aborted = 0
        while True:
            picks = rng.integers(0, len(images), args.batch_size)
            try:
                _, g = sess.run([train, global_step], {x: images[picks], y: labels[picks]})
            except (tf.errors.AbortedError, tf.errors.CancelledError) as exc:
                # As the sample's MonitoredTrainingSession does: a step the TF runtime aborted
                # (a worker->ps RPC retried on a busy machine) is run again, a few times.
                aborted += 1
                if aborted > 5:
                    raise
                print(f"Worker {args.task_index}: step aborted ({type(exc).__name__}), again", flush=True)
                continue
            aborted = 0
            step += 1
            if step % 500 == 0:
                print(f"Worker {args.task_index}: training step {step} done (global step: {g})", flush=True)
            if is_chief and args.checkpoint_dir and time.time() - last_save > 15:
                saver.save(sess, os.path.join(args.checkpoint_dir, "model.ckpt"), global_step=g)
                last_save = time.time()
            if g >= args.train_steps:
                break
        print(f"Training elapsed time: {time.time() - started:.1f} s", flush=True)
        cross_entropy = sess.run(loss, {x: val_x, y: val_y})
        print(f"After {args.train_steps} training step(s), validation cross entropy = {cross_entropy}", flush=True)
        summary = v1.Summary(value=[v1.Summary.Value(tag="cross_entropy", simple_value=float(cross_entropy))])
        writer.add_summary(summary, g)
        writer.close()
        if is_chief and args.checkpoint_dir:
            saver.save(sess, os.path.join(args.checkpoint_dir, "model.ckpt"), global_step=g)
    """
)
