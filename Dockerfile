# syntax=docker/dockerfile:1
# docflow: one image for `web` (gunicorn), `worker` (docflow worker) and `migrate`
# (docflow db upgrade); docker-compose.yml chooses the command. No secrets in here:
# every setting comes from the environment at run time (docflow/config.py).

# ---- build: install the project and its dependencies into a virtualenv ----
FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/docflow

WORKDIR /src
# The context is filtered by .dockerignore (no .venv, var, .git, tests, .env, caches).
# Only the virtualenv leaves this stage.
COPY . .
RUN /opt/docflow/bin/pip install . \
    && /opt/docflow/bin/pip check

# ---- runtime ----
FROM python:3.11-slim-bookworm

ENV PATH=/opt/docflow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOCFLOW_DATA_DIR=/var/lib/docflow

# The signature appearance's font: Times metrics with every Vietnamese letter (TeX Gyre Termes);
# compiled reports' tables are set in DejaVu Serif (TrueType, which ReportLab embeds).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-texgyre fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user; the data folder (upload spool) is the only place it may write.
# A named volume mounted there starts with this folder's owner and mode.
RUN groupadd --system --gid 10001 docflow \
    && useradd --system --uid 10001 --gid docflow --no-create-home \
       --home-dir /var/lib/docflow --shell /usr/sbin/nologin docflow \
    && install -d -o docflow -g docflow -m 0750 /var/lib/docflow

COPY --from=build /opt/docflow /opt/docflow

USER docflow:docflow
WORKDIR /var/lib/docflow

# Fail the build, not the deployment: the entry points import and the default time zone exists.
RUN docflow --version \
    && python -c "import docflow.web, docflow.worker.jobs, zoneinfo; zoneinfo.ZoneInfo('Asia/Ho_Chi_Minh')"

EXPOSE 8000

# No HEALTHCHECK here: worker and migrate run this image too and serve no HTTP.
# docker-compose.yml checks web on /readyz.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4", \
     "--worker-class", "gthread", "--timeout", "120", "--access-logfile", "-", \
     "--worker-tmp-dir", "/dev/shm", "docflow.web:create_app()"]
