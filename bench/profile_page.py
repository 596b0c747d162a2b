"""Where one page's time goes: CPU profile and queries of a URL, in-process, on a bench state.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/iam9bench \\
        python bench/profile_page.py /findings/ --times 50 [--top 30] [--queries]

Runs after `scale.py` has built its state (the same database and admin). Prints the mean wall
time per request with and without the profiler, the queries of one request, and the functions
with most own time. A tool for finding hot spots, not a benchmark: `scale.py` measures.
"""

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import ADMIN, server_env  # noqa: E402


def url_maker(url: str, vary: str | None):
    """The URL as given, or with {} replaced by a random integer in LOW-HIGH each time."""
    if not vary:
        return lambda: url
    low, high = (int(part) for part in vary.split("-"))
    rng = random.Random(9)
    return lambda: url.replace("{}", str(rng.randint(low, high)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--times", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--queries", action="store_true", help="print each query")
    parser.add_argument("--anonymous", action="store_true")
    parser.add_argument("--token", action="store_true", help="an API token instead of a session")
    parser.add_argument("--width", type=int, default=300, help="characters of SQL to print")
    parser.add_argument(
        "--vary",
        metavar="LOW-HIGH",
        help="replace {} in the URL by a random integer in this range on each request "
        "(pages that are cached once viewed: a deep page, a search)",
    )
    args = parser.parse_args()
    os.environ.update(server_env(8619))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iamreview.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # DEBUG is off, as in scale.py's server: pages need the hashed static files' manifest.
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client(HTTP_HOST="127.0.0.1")
    if args.token:
        from accounts.tokens import create_token

        _, token = create_token(user=User.objects.get(email=ADMIN), name="profile_page")
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    elif not args.anonymous:
        client.force_login(User.objects.get(email=ADMIN))
    urls = url_maker(args.url, args.vary)
    for _ in range(3):
        response = client.get(urls())
    print(f"HTTP {response.status_code}, {len(response.content):,} bytes")
    with CaptureQueriesContext(connection) as queries:
        client.get(urls())
    print(f"{len(queries)} queries")
    if args.queries:
        for query in queries.captured_queries:
            print(f"  {query['time']}s  {query['sql'][: args.width]}")
    started = time.perf_counter()
    for _ in range(args.times):
        client.get(urls())
    plain = (time.perf_counter() - started) / args.times
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.times):
        client.get(urls())
    profiler.disable()
    print(f"{plain * 1000:.1f} ms per request (unprofiled)")
    pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
