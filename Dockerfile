# The enforce worker: `docker compose up --build --scale worker=N` (see docker-compose.yml).
# It connects to TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE and keeps documents and the outbox under
# ENFORCE_DATA_DIR (a volume). SIGTERM stops it cleanly.
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    ENFORCE_DATA_DIR=/data

RUN groupadd --system --gid 10001 enforce \
    && useradd --system --uid 10001 --gid enforce --home-dir /home/enforce --create-home \
        --shell /usr/sbin/nologin enforce \
    && mkdir -p /data \
    && chown enforce:enforce /data

# The package from this checkout (.dockerignore keeps the venv, data and tests out).
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

# Not /src: `python -m worker` must import the installed module, not a checkout on the path.
WORKDIR /home/enforce
USER enforce:enforce

STOPSIGNAL SIGTERM
CMD ["python", "-m", "worker"]
