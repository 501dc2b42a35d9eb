"""The catalog of Azure VM sizes that clusters name, and what a node of each gets here."""

from __future__ import annotations

import psutil

from trainforge.node.gpus import host_gpus
from trainforge.schemas.compute import Resources, VmSize

# name: (vCPUs, memory GB, GPUs, temp disk MB) as Azure lists them.
_CATALOG: dict[str, tuple[int, float, int, int]] = {
    "STANDARD_D1_V2": (1, 3.5, 0, 51200),
    "STANDARD_D2_V2": (2, 7.0, 0, 102400),
    "STANDARD_D3_V2": (4, 14.0, 0, 204800),
    "STANDARD_D4_V2": (8, 28.0, 0, 409600),
    "STANDARD_D11_V2": (2, 14.0, 0, 102400),
    "STANDARD_D12_V2": (4, 28.0, 0, 204800),
    "STANDARD_DS2_V2": (2, 7.0, 0, 14336),
    "STANDARD_DS3_V2": (4, 14.0, 0, 28672),
    "STANDARD_DS4_V2": (8, 28.0, 0, 57344),
    "STANDARD_DS11_V2": (2, 14.0, 0, 28672),
    "STANDARD_DS12_V2": (4, 28.0, 0, 57344),
    "STANDARD_D2S_V3": (2, 8.0, 0, 16384),
    "STANDARD_D4S_V3": (4, 16.0, 0, 32768),
    "STANDARD_D8S_V3": (8, 32.0, 0, 65536),
    "STANDARD_D16S_V3": (16, 64.0, 0, 131072),
    "STANDARD_F2S_V2": (2, 4.0, 0, 16384),
    "STANDARD_F4S_V2": (4, 8.0, 0, 32768),
    "STANDARD_F8S_V2": (8, 16.0, 0, 65536),
    "STANDARD_E4S_V3": (4, 32.0, 0, 65536),
    "STANDARD_NC6": (6, 56.0, 1, 389120),
    "STANDARD_NC12": (12, 112.0, 2, 696320),
    "STANDARD_NC24": (24, 224.0, 4, 1474560),
    "STANDARD_NC6S_V2": (6, 112.0, 1, 344064),
    "STANDARD_NC6S_V3": (6, 112.0, 1, 344064),
    "STANDARD_NC12S_V3": (12, 224.0, 2, 688128),
    "STANDARD_NC24S_V3": (24, 448.0, 4, 1376256),
    "STANDARD_NC4AS_T4_V3": (4, 28.0, 1, 180224),
    "STANDARD_NC24ADS_A100_V4": (24, 220.0, 1, 65536),
    "STANDARD_ND6S": (6, 112.0, 1, 344064),
    "STANDARD_ND40RS_V2": (40, 672.0, 8, 2969600),
    "STANDARD_NV6": (6, 56.0, 1, 389120),
    "STANDARD_NV12": (12, 112.0, 2, 696320),
}


def catalog() -> list[VmSize]:
    return [
        VmSize(name=name, vCPUs=cpus, memoryGB=memory, gpus=gpus, maxResourceVolumeMB=disk)
        for name, (cpus, memory, gpus, disk) in sorted(_CATALOG.items())
    ]


def is_known(vm_size: str) -> bool:
    return vm_size.upper() in _CATALOG


def vm_resources(vm_size: str) -> Resources:
    """The VM size's resources as Azure lists them (what a node reserves on a Ray cluster)."""
    cpus, memory, gpus, _disk = _CATALOG[vm_size.upper()]
    return Resources(vcpus=cpus, memory_gb=memory, gpus=gpus)


def node_resources(vm_size: str) -> Resources:
    """The VM size's resources, capped to what this host has."""
    full = vm_resources(vm_size)
    return Resources(
        vcpus=min(full.vcpus, psutil.cpu_count() or 1),
        memory_gb=round(min(full.memory_gb, psutil.virtual_memory().total / 2**30), 1),
        gpus=min(full.gpus, host_gpus()),
    )


def largest_fitting(host: Resources) -> str | None:
    """The catalog size a node on ``host`` gets when nobody named one (a Ray cluster
    attached without vm_size): the most GPUs, then vCPUs, that ``host`` holds (what a node
    reserves there); among those, the most memory that fits in ``host``'s, else the least
    (memory is not reserved, only named). None when no size fits (``host`` has no CPU)."""
    fitting = [
        (name, spec)
        for name, spec in _CATALOG.items()
        if spec[0] <= host.vcpus and spec[2] <= host.gpus
    ]
    if not fitting:
        return None

    def rank(item: tuple[str, tuple[int, float, int, int]]) -> tuple[int, int, bool, float]:
        name, (cpus, memory, gpus, _disk) = item
        fits = memory <= host.memory_gb
        return gpus, cpus, fits, memory if fits else -memory

    return max(sorted(fitting), key=rank)[0]
