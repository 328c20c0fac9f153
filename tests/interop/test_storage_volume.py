"""A real filesystem filled by the test: a tmpfs of 8 MiB mounted for it (as root, which CI
is), a megabyte written each simulated day, the volume's status read through statvfs as the
storage source does: WARN then CRIT on days to full with the right forecast, CRIT on space, a
purge that starts the forecast afresh."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacs_tui.forecast import DAY
from pacs_tui.model import Status
from pacs_tui.probes.storage_source import VolumeCheck, VolumeConfig, read_space

MIB = 2**20


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 8 MiB, unmounted afterwards."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        message = "this test mounts a tmpfs: it needs root and util-linux's mount"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    where = tmp_path / "volume"
    where.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run([umount, str(where)], check=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def write_mib(folder: Path, name: str, mib: float) -> None:
    (folder / name).write_bytes(os.urandom(int(mib * MIB)))


async def test_a_filling_volume_warns_then_goes_critical_with_the_days_left(tmpfs: Path) -> None:
    assert read_space(str(tmpfs)).size == pytest.approx(8 * MIB, rel=0.01)
    clock = Clock()
    entry = VolumeConfig("scratch", str(tmpfs), warn_days=7, crit_days=3, timeout=5)
    check = VolumeCheck(entry, clock=clock)
    seen = []
    for day in range(6):  # a megabyte a day
        write_mib(tmpfs, f"day{day}", 1)
        result = await check.check()
        seen.append((result.status, result.reason))
        clock.now += DAY
    # Day 0 and 1: no forecast yet (one point; then a fit needs three).
    assert seen[0][0] is Status.OK and "no forecast yet" in seen[0][1]
    # Day 2: 3 MiB used, 5 free at 1 MiB a day: 5 days, under warn_days (7).
    assert seen[2] == (Status.WARN, "full in 5 days (< 7 days)")
    assert seen[4] == (Status.WARN, "full in 3 days (< 7 days)")
    # Day 5: 6 MiB used, 2 free: 2 days, under crit_days (3).
    assert seen[5] == (Status.CRIT, "full in 2 days (< 3 days)")
    assert result.metrics["days_to_full"] == pytest.approx(2.0, abs=0.1)
    assert result.metrics["growth_bytes_per_second"] * DAY == pytest.approx(MIB, rel=0.02)

    write_mib(tmpfs, "big", 1.8)  # 7.8 MiB of 8: over crit (95 %)
    result = await check.check()
    assert result.status is Status.CRIT and result.reason.startswith("97.5 % used ≥ 95 %")

    for name in os.listdir(tmpfs):  # a purge: the forecast starts again after it
        os.unlink(tmpfs / name)
    clock.now += DAY
    result = await check.check()
    assert result.status is Status.OK
    assert result.reason.startswith("0 % used, 8.0 MiB free; no forecast yet: 1 point")


@pytest.fixture
def ext4_mount(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB ext4 image mounted through a loop device (a filesystem on a block device, as
    a real disk is), unmounted afterwards."""
    tools = [shutil.which(t) for t in ("mount", "umount", "mkfs.ext4")]
    if os.geteuid() != 0 or None in tools:
        message = "this test mounts an ext4 image: it needs root, mount and e2fsprogs"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    image, where = tmp_path / "disk.img", tmp_path / "pacs-data"
    with image.open("wb") as f:
        f.truncate(8 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    where.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


async def test_every_local_mount_is_a_volume_when_asked(ext4_mount: Path) -> None:
    from pacs_tui.config import parse_config

    config = parse_config(
        '[storage]\nmounts = true\n[[storage.volume]]\nid = "system"\npath = "/"\n'
    )
    volumes = {v.path: v for v in config.section("storage").volumes}
    assert volumes["/"].id == "system"  # configured: not listed twice
    mounted = volumes[str(ext4_mount)]
    assert mounted.id.startswith("mount-") and mounted.id.endswith("pacs-data")
    assert "(ext4)" in mounted.description
    result = await VolumeCheck(mounted).check()
    assert result.status is Status.OK
    assert result.metrics["size_bytes"] < 8 * MIB and result.metrics["used_ratio"] < 0.5
