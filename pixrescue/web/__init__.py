"""``pixrescue serve``: a web page and a JSON API over the API's functions.

``jobs`` holds the queue and the limits (no web framework in it); ``app``
the FastAPI application (``pip install 'pixrescue[web]'``); ``static/`` the
page.
"""
