import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from iamreview.broker import FILESYSTEM_BROKER_URL, filesystem_broker_options, prepare_folder
from iamreview.celery import app as celery_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OneLineSimulatorErrors(logging.Filter):
    """moto answers what it does not implement (Access Analyzer, service last-accessed jobs)
    with an error and werkzeug logs its whole traceback: expected here, so one line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.ERROR and "Traceback" in message:
            last = next((line for line in reversed(message.splitlines()) if line.strip()), "")
            record.msg = "Simulated AWS (moto) could not answer a request (expected): %s"
            record.args = (last.strip()[:300],)
        return True


def use_filesystem_broker(folder: Path) -> None:
    """Send this process's tasks to the filesystem broker in ``folder``; the worker started
    from this process's environment reads the same folder."""
    prepare_folder(folder)
    os.environ.update(CELERY_BROKER_URL=FILESYSTEM_BROKER_URL, CELERY_BROKER_FOLDER=str(folder))
    celery_app.conf.update(
        broker_url=FILESYSTEM_BROKER_URL,
        broker_transport_options=filesystem_broker_options(folder),
        result_backend=None,
        task_always_eager=False,
    )


def start_worker() -> subprocess.Popen:
    """A real Celery worker in its own process, on the filesystem broker: "Collect now" returns
    at once and the page follows the runs. This process sends its tasks to the same folder."""
    use_filesystem_broker(settings.VAR_DIR / "celery-broker")
    command = [sys.executable, "-m", "celery", "--quiet", "-A", "iamreview", "worker"]
    command += ["--pool=solo", "--without-mingle", "--without-gossip", "--without-heartbeat"]
    command += ["--loglevel=WARNING"]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=os.environ.copy())


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Serve the demo: simulated AWS (moto's server, in this process) with its organization "
        "loaded and collected, then the web app. 'Collect now' reaches the simulation."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--scale", type=float, default=1.0)

    def handle(self, *args, addrport, seed, scale, **options):
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        for name, value in {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            os.environ[name] = value  # never the operator's real credentials in the demo
        from moto.server import ThreadedMotoServer

        port = free_port()
        logging.getLogger("werkzeug").addFilter(OneLineSimulatorErrors())
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        self.stdout.write(f"Simulated AWS (moto) listening on 127.0.0.1:{port}")
        try:
            call_command("demo", seed=seed, scale=scale, in_process=False)
            worker = start_worker()
            # Stopped with SIGTERM too (not only Ctrl-C), the worker goes with the app.
            signal.signal(signal.SIGTERM, stop_on_sigterm)
            self.stdout.write(
                f"Background worker (Celery, filesystem broker under var/) running as pid "
                f"{worker.pid}"
            )
            self.stdout.write(
                f"Serving http://{addrport}/ (Ctrl-C stops the app, the worker and the simulation)"
            )
            try:
                call_command("runserver", addrport, use_reloader=False)
            finally:
                worker.terminate()
                worker.wait(timeout=10)
        finally:
            server.stop()
