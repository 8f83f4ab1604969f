"""The HTTP server side of the service: what Gunicorn itself does with a request, before and
around the Flask app.

- `rejections`: requests Gunicorn's parser refuses, answered in the API's JSON error shape with
  one redacted request log line (a mixin for Gunicorn workers); `request_line` redacts the line.
- `body_limit`: one body limit for every framing, and malformed chunked framing as a 400.
- `multipart`: a multipart parser that names a bad boundary or too many parts.
- `http_edge`: the app-level checks (Host, Content-Encoding) and the wiring for the two above.
- `worker`: the Gunicorn worker class that gunicorn.conf.py names.
"""
