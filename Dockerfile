# prefecture-watchdog: `watchdog run` or `watchdog worker` (and `watchdog simulate` for the
# demo) with Debian's Chromium, as an ordinary user so Chromium keeps its sandbox where the
# engine allows it.
# Used by docker-compose.yml. Not built by CI: no Docker engine runs there.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium chromium-headless-shell fonts-dejavu \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY watchdog ./watchdog
COPY probes ./probes
RUN pip install --no-cache-dir '.[workers]'   # psycopg and procrastinate: PostgreSQL, workers
RUN useradd --create-home --uid 10001 watchdog && mkdir /data && chown watchdog /data
USER watchdog
ENV WATCHDOG_CONFIG=/etc/watchdog/watchdog.yaml
EXPOSE 9788
ENTRYPOINT ["watchdog"]
CMD ["run"]
