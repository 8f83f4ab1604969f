"""The HTTP server side of the service: how Gunicorn runs the app, and what it does with a
request before and around the Flask app. gunicorn.conf.py (in the master) and each worker import
`worker`, `sizing`, `hooks` and `in_flight`; the app imports only `http_edge` and what it wires.

- `worker`: the gevent worker class gunicorn.conf.py names (`thread_worker`: the gthread one,
  WORKER_CLASS=gthread); `sizing`: workers, connections and requests in flight from the
  environment; `hooks`: Gunicorn's hooks and logger; `in_flight`: the per-worker bound on
  requests in flight.
- `rejections`: requests Gunicorn's parser refuses, answered in the API's JSON error shape with
  one redacted request log line (a mixin for both worker classes); `request_line` redacts the line.
- `body_limit`: one body limit for every framing, and malformed chunked framing as a 400.
- `multipart`: a multipart parser that names a bad boundary or too many parts.
- `http_edge`: the app-level checks (Host, Content-Encoding) and the wiring for the two above.
"""
