"""
WSGI config for oms project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'oms.config.settings')

application = get_wsgi_application()

from oms.config.production import refuse_unconfigured_start  # noqa: E402 (needs the settings loaded)

refuse_unconfigured_start()
