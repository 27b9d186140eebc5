# Dabiao: one province per app. Build: `docker build -t dabiao .`; run: see fly.toml and
# docs/operations.md. No secret is baked in: keys come from the environment (DABIAO_JWT_KEY_PEM,
# DABIAO_CERT_KEY_PEM) or are generated on the mounted volume at first start.
FROM python:3.11-slim-bookworm

# The CJK TrueType font every PDF embeds (certificates, 通报, comparison, 整改清单).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

# Litestream replicates the database continuously when LITESTREAM_REPLICA_URL is set.
COPY --from=litestream/litestream:0.5.16 /usr/local/bin/litestream /usr/local/bin/litestream
COPY litestream.yml /etc/litestream.yml

RUN useradd --system --create-home --uid 10001 dabiao
WORKDIR /app
COPY pyproject.toml README.md ./
COPY checklists ./checklists
COPY sync ./sync
COPY server ./server
COPY pdfgen ./pdfgen
COPY scripts/fly-start.sh /usr/local/bin/fly-start
RUN pip install --no-cache-dir . && rm -rf /root/.cache

# SQLite database, attachments (unless DABIAO_BLOB_STORE=s3://...), generated keys: on the volume.
ENV DABIAO_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown dabiao /data
VOLUME ["/data"]
USER dabiao
EXPOSE 8080

# SIGTERM lets in-flight pushes finish (uvicorn's graceful shutdown, 30 s). The start script runs
# `dabiao serve --host 0.0.0.0 --port $PORT` (8080), under Litestream when it is configured.
ENV PORT=8080
STOPSIGNAL SIGTERM
CMD ["fly-start"]
