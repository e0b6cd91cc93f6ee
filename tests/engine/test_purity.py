"""The core stays pure: importing engine must not load the shell's libraries."""

import subprocess
import sys

SHELL_LIBRARIES = ("flask", "flask_admin", "sqlalchemy", "celery", "playwright", "weasyprint")


def test_importing_engine_loads_no_shell_library():
    code = (
        "import sys, engine, engine.evaluate, engine.backends.compiled, engine.backends.durable; "
        f"print(','.join(m for m in {SHELL_LIBRARIES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_importing_engine_starts_no_thread_and_reads_no_environment():
    code = (
        "import os, threading; before = threading.active_count(); "
        "os.environ = None; "  # any read of the environment at import time would now fail
        "import engine, engine.backends.durable; print(threading.active_count() - before)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
