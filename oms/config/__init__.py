"""Project configuration: settings, URL roots, the WSGI/ASGI entry points and the Celery application."""
