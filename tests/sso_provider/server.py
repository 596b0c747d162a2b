"""Serves the provider: python -m tests.sso_provider.server PORT (wsgiref, threaded)."""

import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    server = make_server(
        "127.0.0.1", int(sys.argv[1]), get_wsgi_application(), ThreadingServer, QuietHandler
    )
    print("ready", flush=True)
    server.serve_forever()
