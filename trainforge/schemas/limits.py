"""Bounds of what the API accepts, shared by the SDK (checked before sending) and the server.

An integer column holds 64 bits on SQLite but 32 on PostgreSQL (INTEGER); a number that
does not fit must be a 422 naming its field, never an overflow inside the store.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Columns declared Integer are 32-bit on PostgreSQL: steps, attempts, counts, ranks, ids.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveCount = Annotated[int, Field(ge=1, le=INT32_MAX)]
# A byte offset into a file.
Offset = Annotated[int, Field(ge=0, le=INT64_MAX)]
# How long a long poll may wait: finite (NaN would never time out), 0 to 30 s.
MAX_WAIT_S = 30.0
WaitSeconds = Annotated[float, Field(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)]

# Metric points: one point's value and the text around it.
MAX_METRIC_NAME = 255
MAX_METRIC_TEXT = 65_536  # a string value, an image's artifact URL, a description
MAX_METRIC_CELLS = 100_000  # the values of one log_list, or all cells of one log_table
MAX_METRIC_COLUMNS = 1_024  # columns of one log_row / log_table

# Paths of run files and snapshots: what POSIX file systems allow.
MAX_PATH = 4_096
MAX_NAME_PART = 255

# A cluster's nodes: each local node is a process; more than this is a typo or a fuzzer.
MAX_CLUSTER_NODES = 1_000

# Text kept in VARCHAR(n) columns: PostgreSQL refuses a longer value (SQLite would keep
# it), so each is checked here and refused with a 422 naming its field.
MAX_DISPLAY_NAME = 256  # a run's display name, who submitted it, a friendly name
MAX_RUN_TYPE = 64
MAX_HASH = 64  # content hashes: snapshot ids
MAX_SUBSCRIPTION_ID = 64
MAX_RESOURCE_GROUP = 128
MAX_LOCATION = 64
MAX_SKU = 32
MAX_CONTENT_TYPE = 128
