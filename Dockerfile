# syntax=docker/dockerfile:1
# The production image: the service and its pinned runtime dependencies, no test tools.
# Build: docker build -t infraprism .   Run: see docker-compose.yml.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11-slim
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=infraprism.settings \
    GUNICORN_BIND=0.0.0.0:8000
RUN groupadd --system --gid 10001 infraprism \
    && useradd --system --uid 10001 --gid infraprism --home-dir /app --shell /usr/sbin/nologin infraprism
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=infraprism:infraprism . .
# Static files are collected into the image (whitenoise serves them). The throwaway key only
# lets settings load at build time; runtime requires DJANGO_SECRET_KEY from the environment.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var/prometheus \
    && chown -R infraprism:infraprism /app/var
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
