import os
import socket

from django.core.management import call_command
from django.core.management.base import BaseCommand


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        self.stdout.write(f"Simulated AWS (moto) listening on 127.0.0.1:{port}")
        try:
            call_command("demo", seed=seed, scale=scale, in_process=False)
            self.stdout.write(
                f"Serving http://{addrport}/ (Ctrl-C stops the app and the simulation)"
            )
            call_command("runserver", addrport, use_reloader=False)
        finally:
            server.stop()
