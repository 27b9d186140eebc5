# Dabiao: one province per app. Build: `docker build -t dabiao .`; run: see fly.toml and
# docs/operations.md. No secret is baked in: keys come from the environment (DABIAO_JWT_KEY_PEM,
# DABIAO_CERT_KEY_PEM) or are generated on the mounted volume at first start.
FROM python:3.11-slim-bookworm

# The CJK TrueType font every PDF embeds (certificates, 通报, comparison, 整改清单).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --uid 10001 dabiao
WORKDIR /app
COPY pyproject.toml README.md ./
COPY checklists ./checklists
COPY sync ./sync
COPY server ./server
COPY pdfgen ./pdfgen
RUN pip install --no-cache-dir . && rm -rf /root/.cache

# SQLite database, attachments (unless DABIAO_BLOB_STORE=s3://...), generated keys: on the volume.
ENV DABIAO_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown dabiao /data
VOLUME ["/data"]
USER dabiao
EXPOSE 8080

# SIGTERM lets in-flight pushes finish (uvicorn's graceful shutdown, 30 s).
STOPSIGNAL SIGTERM
CMD ["dabiao", "serve", "--host", "0.0.0.0", "--port", "8080"]
