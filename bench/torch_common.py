"""Helpers shared by the bench scripts that compare kiln with PyTorch."""
import gzip
import os
import struct
import subprocess
import sys

FMNIST = "/usr/share/datasets/fashion-mnist"


def ensure_torch():
    """Makes `import torch` work: re-runs under Debian's python3, or installs
    python3-torch and libopenblas0-pthread with apt-get (bench only)."""
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.check_call(sudo + ["apt-get", "install", "-y", "-qq", "python3-torch",
                                  "libopenblas0-pthread"])


def read_idx(path):
    """(dims, raw bytes) of a gzip-compressed IDX file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]
