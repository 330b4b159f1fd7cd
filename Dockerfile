# Ark API Server image: `make build` (docker build -t ark-apiserver:<version> .).
#
# The builder stage installs the pinned wheels into /opt/venv; the runtime stage is a slim Python
# with only that venv and the files the server and its migrations read. It runs as UID 10001,
# serves with gunicorn and gevent workers (config/gunicorn.conf.py), and takes every setting from
# ARK_* environment variables or a YAML file named by ARK_CONFIG (README "Configuration").
# It listens on 0.0.0.0 only together with delegated authentication (the Helm chart under k8s/
# runs it so). Migrations: `python -m ark migrate`, or `alembic -c alembic.ini upgrade head`.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --only-binary=:all: -r /tmp/requirements.txt


FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ARK_AUTH_MODE=delegated \
    ARK_BIND_ADDRESS=0.0.0.0 \
    ARK_SECURE_PORT=8443 \
    ARK_SQLITE_PATH=/var/lib/ark/ark.db \
    ARK_CERT_DIR=/tmp/ark-certs

RUN groupadd --system --gid 10001 ark \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ark \
    && mkdir -p /var/lib/ark \
    && chown 10001:10001 /var/lib/ark

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini wsgi.py ./
COPY alembic/ alembic/
COPY config/ config/
COPY ark/ ark/
# Compiled now: the root filesystem is read-only in the cluster.
RUN python -m compileall -q ark alembic config wsgi.py

USER 10001:10001
VOLUME ["/var/lib/ark"]
EXPOSE 8443
ENTRYPOINT ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
