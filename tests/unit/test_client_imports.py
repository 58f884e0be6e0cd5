"""What a client-only install runs (`pip install gametap[envs]`: no aiohttp, uvloop, prometheus)
imports without the daemon's packages: `gametap export --format npz` needs nothing more."""
import subprocess
import sys

DAEMON_PACKAGES = ("aiohttp", "prometheus_client", "uvloop", "grpc_health", "grpc_reflection", "websockets")
BLOCK = f"""
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DAEMON_PACKAGES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Missing())
"""


def test_export_imports_without_the_daemons_packages():
    result = subprocess.run([sys.executable, "-c", BLOCK + "import gametap.recordings.export, gametap.cli_archive"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
