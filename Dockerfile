# The prediction service for Cloud Run: Gunicorn serving service:create_app() on 0.0.0.0:$PORT.
#
#   docker build -t prediction-service .                                   # serve + vertex extras
#   docker build --build-arg EXTRAS=serve -t prediction-service:slim .     # without the Vertex client
#   docker build --secret id=pip-ca,src=/path/to/ca.pem ...                # behind a TLS proxy
#
# BASE_IMAGE must provide `python3` (3.11+) with the venv module.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120
WORKDIR /build
COPY pyproject.toml constraints.txt scripts/extra-requirements.py ./
RUN python3 -m venv /opt/venv
# Only the dependencies go into the virtualenv (the app is copied as source below), pinned by
# constraints.txt. The serving stack first, in a layer every EXTRAS choice shares; then the rest.
# The CA bundle, when given as a build secret, exists only during these RUNs: no layer keeps it.
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 extra-requirements.py serve > serve.txt \
    && /opt/venv/bin/pip install --no-compile -c constraints.txt -r serve.txt
ARG EXTRAS=serve,vertex
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 extra-requirements.py "$EXTRAS" > extras.txt \
    && /opt/venv/bin/pip install --no-compile -c constraints.txt -r extras.txt \
    && /opt/venv/bin/pip uninstall --yes pip setuptools \
    && find /opt/venv/lib -depth -type d -name tests -exec rm -rf {} +
# Bytecode only for what the service loads, not for every module the wheels ship: without it
# each cold start compiles its imports again (the Vertex client: seconds), while compiling all
# of google-cloud-aiplatform's generated modules adds ~100 MB the service never loads. A module
# missing from this list still works; it is compiled in memory when first imported.
RUN /opt/venv/bin/python -c "import importlib, importlib.util, sys; [importlib.import_module(name) for name in sys.argv[1:] if importlib.util.find_spec(name)]; import PIL.Image; PIL.Image.init()" \
        gunicorn.app.wsgiapp gunicorn.workers.ggevent gevent gunicorn.glogging flask numpy numpy.ma PIL.Image \
        google.cloud.logging_v2.handlers requests google.auth.transport.requests \
        google.auth.transport.grpc google.cloud.aiplatform_v1

FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Version and revision change with every build: declared after the dependency layers, so those
# stay cached, and before the one RUN, so that a builder whose cache keys metadata steps by
# their text (buildah) still cannot reuse the LABEL below from an older build.
ARG VERSION=dev
ARG GIT_REVISION=unknown
COPY service/ service/
RUN python3 -m compileall -q service
USER app:app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/', timeout=2)"]
LABEL org.opencontainers.image.title="prediction-service" \
      org.opencontainers.image.description="Fashion-MNIST prediction service (Flask under Gunicorn) for Cloud Run" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_REVISION}"
# Exec form: Gunicorn is PID 1 and receives Cloud Run's SIGTERM itself.
CMD ["gunicorn", "-c", "service/gunicorn.conf.py", "service:create_app()"]
