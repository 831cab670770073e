"""Helpers shared by the bench scripts that compare kiln with PyTorch."""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

FMNIST = "/usr/share/datasets/fashion-mnist"


def _installed(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return "install ok installed" in r.stdout


def ensure_torch():
    """Makes `import torch` work with OpenBLAS: re-runs under Debian's python3, and
    installs python3-torch and libopenblas0-pthread with apt-get when missing (bench
    only). Without libopenblas0-pthread, Debian's torch runs on the reference BLAS
    (libblas3), whose GEMMs are 10-30x slower, and every ratio would flatter kiln."""
    missing = [p for p in ("python3-torch", "libopenblas0-pthread") if not _installed(p)]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.check_call(sudo + ["apt-get", "install", "-y", "-qq"] + missing)
    try:
        import torch  # noqa: F401
    except ImportError:
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        raise


def torch_env(threads, passive=True):
    """The environment of a PyTorch child at `threads` threads: OpenBLAS's own pool sized
    to match (torch.set_num_threads does not reach it, and two spinning OpenBLAS threads
    beside PyTorch's make small GEMMs many times slower on 2 cores), and OpenMP threads
    that sleep rather than spin when `passive`."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def torch_blas():
    """The BLAS library this process (after `import torch` and a matmul) has loaded."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return ", ".join(sorted(os.path.basename(os.path.dirname(l)) + "/" + os.path.basename(l)
                            for l in libs)) or "none"


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
