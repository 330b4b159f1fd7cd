# Ark API Server image: `docker build -t ark-apiserver .`, then
#   docker run --rm -v ark-data:/app/data --entrypoint python ark-apiserver -m ark migrate
#   docker run --rm -p 8443:8443 -v ark-data:/app/data ark-apiserver [--flags]
# Settings come from flags, ARK_* env or a YAML file (--config / ARK_CONFIG), e.g. -e ARK_STORAGE_DRIVER=postgresql.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY alembic.ini wsgi.py ./
COPY alembic/ alembic/
COPY config/ config/
COPY ark/ ark/

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ark \
    && mkdir -p /app/data \
    && chown ark:ark /app/data
USER ark

VOLUME ["/app/data"]
EXPOSE 8443

ENTRYPOINT ["python", "-m", "ark", "serve", "--bind-address", "0.0.0.0"]
