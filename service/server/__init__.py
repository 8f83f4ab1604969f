"""How Gunicorn runs the app: the worker class, its hooks and logger, and the per-worker bound
on requests in flight. Imported by service/gunicorn.conf.py (in the master) and by each worker;
nothing here is imported by the app itself, which runs under any WSGI server."""
