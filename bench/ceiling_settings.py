"""Settings of the P1 framework-ceiling server (bench only, never the product's).

The product's settings (``oms.config.settings``: same middleware, database, connection reuse, no
DEBUG under the bench's environment) with one change: the URLs are ``bench.ceiling_urls``,
which serve nothing but the ceiling view, so that view is unreachable from ``oms.config.urls``.
Passed to gunicorn by ``bench.p1_actions`` through ``bench.server.gunicorn_server(settings=…)``.
"""

from oms.config.settings import *  # noqa: F403 - the product's settings, unchanged but for the URLs

ROOT_URLCONF = "bench.ceiling_urls"
