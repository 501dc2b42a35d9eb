"""What a node's launcher starts for each launch mode, and with which variables.

``layout`` decides, from the run definition alone, which processes this node runs, their
log names and whether the run waits for them; ``specs`` then gives each its command and
environment once the interpreter and (for parameter servers) the gang's endpoints are
known. Modes:

- none / PyTorch (Gloo, Nccl): ``process_count_per_node`` processes, torchrun variables;
- TensorFlow parameter server: one process per task placed on this node (``tf_cluster``),
  with ``TF_CONFIG``; parameter servers are helpers, stopped once the workers are done;
- MPI: ``mpirun`` on node 0 over every node (``mpi``); other nodes run the daemons it
  asks for.

A Batch AI job (``definition.batchai``) uses the same modes with Batch AI's names: its logs
are ``stdouterr/stdout-wk-<i>.txt`` and the like (stdout and stderr apart), each task
runs its own bash line (TensorFlow's master, worker and parameter-server arguments), a
custom toolkit runs on the first node only, and MPI ranks write into mpirun's output.
"""

from __future__ import annotations

import os
import shlex
import shutil
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from trainforge.node import mpi, tf_cluster
from trainforge.schemas.runs import RunDefinition

DRIVER_LOG = "azureml-logs/70_driver_log.txt"
MPI_COMMUNICATORS = ("IntelMpi", "OpenMpi")
SHELL = shutil.which("bash") or "/bin/sh"
# main: the run waits for it; helper: stopped when the main processes are done (a
# parameter server), yet its failure fails the run; daemon: an MPI daemon, whose end
# mpirun on the first node judges.
Role = Literal["main", "helper", "daemon"]


@dataclass(frozen=True)
class Slot:
    """One process this node starts."""

    log_name: str
    role: Role
    label: str  # how errors name it: "rank 1", "worker 0", "mpirun"
    rank: int  # global rank or task index
    local_rank: int
    task_type: str | None = None
    # Batch AI: stderr in a log of its own, and which of the job's commands this task runs.
    stderr_name: str | None = None
    command_key: str | None = None


@dataclass(frozen=True)
class Layout:
    slots: list[Slot]
    # Driver logs written by processes that others start here (MPI ranks).
    rank_logs: list[str] = field(default_factory=list)
    # MPI nodes after the first run the daemons mpirun posts for them.
    serves_daemons: bool = False

    @property
    def log_names(self) -> list[str]:
        stderr = [slot.stderr_name for slot in self.slots if slot.stderr_name]
        return [slot.log_name for slot in self.slots] + stderr + self.rank_logs

    @property
    def has_main(self) -> bool:
        return any(slot.role == "main" for slot in self.slots)


@dataclass(frozen=True)
class NodeContext:
    """What the launcher knows about this node when it builds the processes."""

    definition: RunDefinition
    interpreter: str
    env: dict[str, str]
    node_rank: int
    node_count: int
    master_addr: str
    master_port: int | None
    gpus: int
    logs_dir: Path


@dataclass(frozen=True)
class ProcessSpec:
    slot: Slot
    command: list[str]
    env: dict[str, str]


def rank_log(rank: int, total: int) -> str:
    return DRIVER_LOG if total == 1 else DRIVER_LOG.replace(".txt", f"_{rank}.txt")


def daemon_log(node_rank: int) -> str:
    return f"azureml-logs/70_mpi_daemon_log_{node_rank}.txt"


BATCHAI_LOGS = "stdouterr/"


def _batchai_slot(slot: Slot, suffix: str, command_key: str) -> Slot:
    """``slot`` with Batch AI's log names (stdout-<suffix>.txt, stderr-<suffix>.txt)."""
    name = f"-{suffix}" if suffix else ""
    return replace(
        slot,
        log_name=f"{BATCHAI_LOGS}stdout{name}.txt",
        stderr_name=f"{BATCHAI_LOGS}stderr{name}.txt",
        command_key=command_key,
    )


def batchai_layout(definition: RunDefinition, node_rank: int, node_count: int) -> Layout:
    """The processes of a Batch AI job on this node, with the log names of reference 4.2."""
    job = definition.batchai
    assert job is not None
    tool = job.tool_type
    if tool == "custom" or (
        tool not in ("tensorflow", "pytorch", "caffe2") and not mpi_tool(definition)
    ):
        if node_rank > 0:
            # The command line runs on the master node only; the others serve the daemons
            # of an mpirun it may start over $AZ_BATCHAI_MPI_HOST_FILE.
            return Layout([], rank_logs=[daemon_log(node_rank)], serves_daemons=True)
        return Layout([_batchai_slot(Slot("", "main", "command", 0, 0), "", "main")])
    plan = layout(definition.model_copy(update={"batchai": None}), node_rank, node_count)
    if tool == "tensorflow":
        slots = [
            _batchai_slot(
                slot,
                f"{'wk' if slot.task_type == tf_cluster.WORKER else 'ps'}-{slot.rank}",
                "master"
                if slot.task_type == tf_cluster.WORKER and slot.rank == 0
                else "worker"
                if slot.task_type == tf_cluster.WORKER
                else "ps",
            )
            for slot in plan.slots
        ]
        return Layout(slots)
    if mpi_tool(definition):
        # mpirun merges every rank's output into stdout.txt, as Batch AI's did.
        slots = [_batchai_slot(slot, "", "main") for slot in plan.slots]
        return Layout(
            slots,
            serves_daemons=plan.serves_daemons,
            rank_logs=plan.rank_logs[:1] if plan.serves_daemons else [],
        )
    total = node_count * definition.process_count_per_node
    return Layout(
        [_batchai_slot(slot, str(slot.rank) if total > 1 else "0", "main") for slot in plan.slots]
    )


def mpi_tool(definition: RunDefinition) -> bool:
    return definition.communicator in MPI_COMMUNICATORS


def layout(definition: RunDefinition, node_rank: int, node_count: int) -> Layout:
    if definition.batchai is not None:
        return batchai_layout(definition, node_rank, node_count)
    per_node = definition.process_count_per_node
    if definition.communicator == "ParameterServer":
        tasks = tf_cluster.node_tasks(
            node_rank, node_count, definition.worker_count, definition.parameter_server_count
        )
        return Layout(
            [
                Slot(
                    log_name=DRIVER_LOG.replace(".txt", f"_{task_type}_{index}.txt"),
                    role="main" if task_type == tf_cluster.WORKER else "helper",
                    label=f"{task_type} {index}",
                    rank=index,
                    local_rank=local,
                    task_type=task_type,
                )
                for local, (task_type, index) in enumerate(tasks)
            ]
        )
    total = node_count * per_node
    ranks = [node_rank * per_node + local for local in range(per_node)]
    if definition.communicator in MPI_COMMUNICATORS:
        rank_logs = [rank_log(rank, total) for rank in ranks]
        if node_rank > 0:
            return Layout([], rank_logs=[daemon_log(node_rank), *rank_logs], serves_daemons=True)
        return Layout([Slot(mpi.MPI_LOG, "main", "mpirun", 0, 0)], rank_logs=rank_logs)
    return Layout(
        [
            Slot(rank_log(rank, total), "main", f"rank {rank}", rank, local)
            for local, rank in enumerate(ranks)
        ]
    )


def _path_with(interpreter: str, path: str) -> str:
    """PATH with the run environment's ``bin`` first, so that ``python`` in a command is
    the environment's interpreter (as in an Azure ML image), not the machine's."""
    if not os.path.isabs(interpreter):
        return path
    return os.pathsep.join([os.path.dirname(interpreter), *([path] if path else [])])


def node_environment(ctx: NodeContext) -> dict[str, str]:
    """Variables every process of this node shares, whatever the mode."""
    out = {
        **ctx.env,
        "PATH": _path_with(ctx.interpreter, ctx.env.get("PATH", os.defpath)),
        "NODE_RANK": str(ctx.node_rank),
        "AZ_BATCHAI_JOB_MASTER_NODE_IP": ctx.master_addr,
        "AZ_BATCHAI_NUM_GPUS": str(ctx.gpus),
        "TRAINFORGE_LOGS_DIR": str(ctx.logs_dir),
    }
    if ctx.master_port is not None:
        endpoint = f"{ctx.master_addr}:{ctx.master_port}"
        out.update(
            MASTER_ADDR=ctx.master_addr,
            MASTER_PORT=str(ctx.master_port),
            AZ_BATCHAI_PYTORCH_INIT_METHOD=f"tcp://{endpoint}",
            AZ_BATCH_MASTER_NODE=endpoint,
        )
    return out


def _script_command(
    definition: RunDefinition,
    interpreter: str,
    env: dict[str, str] | None,
    slot: Slot | None = None,
) -> list[str]:
    """The user's command; ``$VARIABLES`` expanded from ``env`` (None: left for later).

    A ``command`` is joined into one line and run by a shell, as Azure ML runs it: the
    shell expands its variables and runs its ``&&``, pipes and quotes. Arguments of a
    command run (HyperDrive's sampled ``--name value``) follow it, quoted as one word each.
    A Batch AI task runs its own bash line: bash expands its variables (an undefined one
    to nothing, as Batch AI did).
    """
    if definition.batchai is not None and slot is not None and slot.command_key:
        return [SHELL, "-c", definition.batchai.commands[slot.command_key]]
    if definition.command:
        line = " ".join([*definition.command, *map(shlex.quote, definition.arguments)])
        return [SHELL, "-c", line]
    assert definition.script is not None
    parts = [interpreter, definition.script, *definition.arguments]
    if env is None:
        return parts
    return [string.Template(part).safe_substitute(env) for part in parts]


def _rank_environment(base: dict[str, str], ctx: NodeContext, slot: Slot) -> dict[str, str]:
    per_node = ctx.definition.process_count_per_node
    out = {
        **base,
        "RANK": str(slot.rank),
        "LOCAL_RANK": str(slot.local_rank),
        "WORLD_SIZE": str(ctx.node_count * per_node),
        "LOCAL_WORLD_SIZE": str(per_node),
    }
    if ctx.definition.communicator in ("Gloo", "Nccl"):
        # A Batch AI job names its own backend (its communicationBackend, as written).
        out.setdefault("AZ_BATCHAI_PYTORCH_BACKEND", ctx.definition.communicator.lower())
        out["AZ_BATCHAI_TASK_INDEX"] = str(slot.rank)
    _share_cpus_and_gpus(out, ctx, slot.local_rank, per_node)
    return out


def _share_cpus_and_gpus(env: dict[str, str], ctx: NodeContext, local: int, count: int) -> None:
    if count > 1:
        # As torchrun does: several processes on one node must not each take every core.
        env.setdefault("OMP_NUM_THREADS", "1")
        if ctx.gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(local % ctx.gpus)  # each local rank its own GPU


def specs(
    plan: Layout, ctx: NodeContext, cluster: dict[str, list[str]] | None = None
) -> list[ProcessSpec]:
    """Commands and environments for the processes of ``plan``.

    ``cluster`` is the TensorFlow cluster (``tf_cluster.cluster_spec``) for parameter-server
    runs; MPI's first node writes its hostfile into the logs folder's parent.
    """
    base = node_environment(ctx)
    definition = ctx.definition
    out: list[ProcessSpec] = []
    if definition.communicator == "ParameterServer":
        assert cluster is not None
        for slot in plan.slots:
            assert slot.task_type is not None
            env = {**base, **tf_cluster.task_variables(cluster, slot.task_type, slot.rank)}
            _share_cpus_and_gpus(env, ctx, slot.local_rank, len(plan.slots))
            out.append(
                ProcessSpec(slot, _script_command(definition, ctx.interpreter, env, slot), env)
            )
        return out
    if definition.communicator in MPI_COMMUNICATORS:
        env = _mpi_environment(base, ctx)
        for slot in plan.slots:
            hostfile = mpi.write_hostfile(
                ctx.logs_dir.parent / "mpi_hostfile",
                ctx.node_count,
                definition.process_count_per_node,
            )
            # Ranks expand $VARIABLES themselves, once they know their rank.
            rank_command = _script_command(definition, ctx.interpreter, None, slot)
            command = mpi.mpirun_command(
                rank_command, ctx.node_count, definition.process_count_per_node, hostfile
            )
            out.append(ProcessSpec(slot, command, env))
        return out
    for slot in plan.slots:
        env = _rank_environment(base, ctx, slot)
        # Arguments such as $LOCAL_RANK or $AZ_BATCHAI_TASK_INDEX are per process.
        out.append(ProcessSpec(slot, _script_command(definition, ctx.interpreter, env, slot), env))
    return out


def _mpi_environment(base: dict[str, str], ctx: NodeContext) -> dict[str, str]:
    """What mpirun or the daemon pass on to this node's ranks (mpi_rank adds the ranks)."""
    env = {**base, "AZ_BATCHAI_TASK_INDEX": str(ctx.node_rank)}
    if ctx.definition.batchai is not None:
        env["TRAINFORGE_RANK_OUTPUT"] = "merge"  # ranks write into mpirun's stdout.txt
    if ctx.node_count == 1:
        env["AZ_BATCHAI_MPI_MASTER_NODE"] = ctx.master_addr
    if ctx.definition.process_count_per_node > 1:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def daemon_spec(ctx: NodeContext, command: str) -> ProcessSpec:
    """An MPI daemon that mpirun on the first node asked this node to run."""
    env = _mpi_environment(node_environment(ctx), ctx)
    slot = Slot(daemon_log(ctx.node_rank), "daemon", "mpi daemon", 0, 0)
    return ProcessSpec(slot, ["/bin/sh", "-c", command], env)
