"""Whether the tests may mount a tmpfs in a private mount namespace (the full-disk tests:
root, ``unshare -m``); probed once per test process."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


@functools.cache
def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0
