# One image for every role of Sabaq. Its command, `sabaq serve`, runs both planes in one process
# (the default deployment); compose.yaml runs the same image as `sabaq control` and `sabaq media`
# (the cluster). Build: docker build -t sabaq .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY access access
COPY scheduler scheduler
COPY admission admission
COPY attendance attendance
COPY streaming streaming
COPY control control
COPY web web
# /data/recordings and /data/backups exist in the image, owned by sabaq, so that a volume
# mounted there (the cluster's shared recordings volume) starts out writable by sabaq, and
# `sabaq backup /data/backups/FILE` has a folder to write to.
RUN pip install --no-cache-dir . && useradd --system --home /data sabaq \
    && mkdir -p /data/recordings /data/backups && chown -R sabaq /data
USER sabaq
ENV SABAQ_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
CMD ["sabaq", "serve"]
