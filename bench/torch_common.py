"""Helpers shared by the bench scripts that compare kiln with PyTorch."""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

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


def run_child(cmd, env=None):
    """Runs cmd; returns its last stdout line as JSON with its peak RSS (MB) added."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read().decode()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            err.seek(0)
            sys.exit(f"error: {' '.join(cmd)} failed:\n{err.read().decode()}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result
