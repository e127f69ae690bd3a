# Sabaq in one process (control and media planes). Build: docker build -t sabaq .
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY access access
COPY scheduler scheduler
COPY admission admission
COPY attendance attendance
COPY streaming streaming
COPY web web
RUN pip install --no-cache-dir . && useradd --system --home /data sabaq && mkdir -p /data \
    && chown sabaq /data
USER sabaq
ENV SABAQ_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
CMD ["sabaq", "serve"]
