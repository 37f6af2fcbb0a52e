# Stand-ins for the images docker/compose.yaml takes from Docker Hub (redis, haproxy,
# prom/prometheus), for a Docker daemon that cannot pull them, as on CI: the same programs from
# Debian's packages on debian:bookworm-slim, laid out so that the compose file runs them
# unchanged. .ci/compose-images builds them as agora-redis:local, agora-haproxy:local and
# agora-prometheus:local and prints the variables that point the compose file at them.
# (Debian has no Grafana: the compose file's `grafana` profile needs grafana/grafana.)

FROM debian:bookworm-slim AS redis
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis -m 0750 /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]

FROM debian:bookworm-slim AS haproxy
RUN apt-get update \
 && apt-get install -y --no-install-recommends haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && install -d /usr/local/etc/haproxy
USER haproxy
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]

FROM debian:bookworm-slim AS prometheus
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o prometheus -g prometheus /prometheus
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
