"""A Celery broker that needs no server, for `make run`: kombu's filesystem transport.

The web process and the worker `rundemo` starts share one folder under var/; each message is
a file. Production uses Redis (CELERY_BROKER_URL=redis://...).
"""

from pathlib import Path

FILESYSTEM_BROKER_URL = "filesystem://"


def filesystem_broker_options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


def prepare_folder(folder: Path) -> None:
    """Create the folders, and drop messages a previous run left behind."""
    for name in ("queue", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for stale in (folder / "queue").glob("*.msg"):
        stale.unlink(missing_ok=True)
