"""celadon: a live monitoring dashboard for Celery on Redis.

The dashboard is one native program, ``celadon``, which the wheel installs
beside this package, in the environment's ``bin/``. This package only finds
that program and runs it: ``python -m celadon ARGS`` and
``celery -A proj celadon ARGS`` both end in :func:`exec_binary`.

Module-level imports stay light: Celery imports ``celadon.celery_command``,
and so this package, on every ``celery`` call, workers included.
"""

import os
import sys

__all__ = ["BINARY", "exec_binary", "find_binary"]

#: The program's file name.
BINARY = "celadon.exe" if sys.platform == "win32" else "celadon"


def find_binary():
    """The path of the ``celadon`` program, looked for in this order:

    1. ``CELADON_BIN``, if set;
    2. the file this distribution installed (its RECORD), so that a venv's
       command finds its own binary even when the venv is not on ``PATH``;
    3. this interpreter's scripts directory;
    4. ``PATH``.

    Raises ``FileNotFoundError`` saying where it looked.
    """
    override = os.environ.get("CELADON_BIN")
    if override:
        return override
    import sysconfig

    scripts = sysconfig.get_path("scripts")
    for candidate in (_installed(), os.path.join(scripts, BINARY)):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    import shutil

    found = shutil.which(BINARY)
    if found:
        return found
    raise FileNotFoundError(
        f"the {BINARY} program is not installed: not among the celadon "
        f"distribution's files, not in {scripts}, not on PATH "
        "(reinstall the wheel, or set CELADON_BIN)"
    )


def _installed():
    """The program among the files the ``celadon`` distribution installed."""
    from importlib import metadata

    try:
        files = metadata.distribution("celadon").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        parts = file.parts
        if len(parts) >= 2 and parts[-1] == BINARY and parts[-2] in ("bin", "Scripts"):
            # RECORD names it relative to site-packages (../../../bin/celadon);
            # normpath makes the program's argv[0] a plain path.
            return os.path.normpath(str(file.locate()))
    return None


def exec_binary(args, env=None):
    """Replaces this process with ``celadon ARGS``, in ``env`` (this
    process's environment by default).

    The program keeps this process's PID, so a service manager's signals
    reach it directly and its exit status is the command's. Windows has no
    exec: there it runs as a child, and this process exits with its status.
    Raises ``OSError`` if the program cannot be found or started.
    """
    path = find_binary()
    if env is None:
        env = os.environ
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":
        import subprocess

        sys.exit(subprocess.call([path, *args], env=env))
    os.execve(path, [path, *args], env)
