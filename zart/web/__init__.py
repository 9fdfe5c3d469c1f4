"""zart over HTTP: a JSON API for everything the library offers, its OpenAPI 3.1 document, and
a dashboard, as one WSGI application that needs nothing beyond zart itself.

Mount it in a Flask or Django project (it honours ``SCRIPT_NAME``), or run it alone with
``zart serve`` (``pip install 'zart[cli,web]'``)::

    from zart.web import create_app
    api = create_app(zart.Zart(), tokens="read:...,operate:...")

The web layer calls the library's public API only; it never speaks SQL (ARCHITECTURE.md).
"""

from .app import Settings, ZartWeb, create_app

__all__ = ["Settings", "ZartWeb", "create_app"]
