"""Which log ``wait_for_completion(show_output=True)`` streams: rank 0's, never mpirun's own
log while rank 0's may still come (the files of a run appear one by one)."""

from __future__ import annotations

from trainforge.client.log_stream import pick_log


def test_rank_0s_log_is_waited_for_and_mpiruns_own_log_is_never_taken_for_it() -> None:
    mpi = "azureml-logs/70_mpi_log.txt"
    rank0, rank1 = "azureml-logs/70_driver_log_0.txt", "azureml-logs/70_driver_log_1.txt"
    # While the run goes on, mpirun's log alone, or another rank's: wait for rank 0's.
    assert pick_log([mpi], settled=False) is None
    assert pick_log([mpi, rank1], settled=False) is None
    assert pick_log([mpi, rank1, rank0], settled=False) == rank0
    # Once the run has ended, what there is.
    assert pick_log([mpi], settled=True) == mpi
    assert pick_log(["azureml-logs/70_driver_log.txt"], settled=False) == (
        "azureml-logs/70_driver_log.txt"
    )
