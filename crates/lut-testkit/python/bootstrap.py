"""Create (once) the Python venv that holds moto's server for lut's tests.

Usage: python3 bootstrap.py VENV_DIR REQUIREMENT...

Safe to run from many test processes at once: an exclusive flock on VENV_DIR.lock
serialises the work, and a marker file inside the venv (written last, naming the
requirements) says the venv is complete. A venv left half-built by a killed process has no
marker and is rebuilt. Prints the venv's python path on success.
"""
import fcntl
import os
import shutil
import subprocess
import sys


def main() -> int:
    venv = os.path.abspath(sys.argv[1])
    reqs = sys.argv[2:]
    marker = os.path.join(venv, ".lut-ready")
    want = "\n".join(reqs) + "\n"
    python = os.path.join(venv, "bin", "python")
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(marker) as f:
                if f.read() == want and os.path.exists(python):
                    print(python)
                    return 0
        except FileNotFoundError:
            pass
        sys.stderr.write(f"lut-testkit: installing {' '.join(reqs)} into {venv} (once)\n")
        if os.path.exists(venv):
            shutil.rmtree(venv)
        pip_opts = ["--disable-pip-version-check", "--no-input", "-q"]
        try:
            subprocess.check_call([sys.executable, "-m", "venv", venv], stdout=sys.stderr)
            pip = [python, "-m", "pip", *pip_opts]
        except subprocess.CalledProcessError:
            # Debian's python3 without python3-venv has no ensurepip: make the venv without
            # pip and install into it with this interpreter's pip (pip >= 22.3).
            sys.stderr.write("lut-testkit: venv with pip failed; retrying --without-pip\n")
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.check_call([sys.executable, "-m", "venv", "--without-pip", venv], stdout=sys.stderr)
            pip = [sys.executable, "-m", "pip", "--python", python, *pip_opts]
        subprocess.check_call(pip + ["install", *reqs], stdout=sys.stderr)
        with open(marker + ".tmp", "w") as f:
            f.write(want)
        os.replace(marker + ".tmp", marker)
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
