# agenthost: one image for every role (`grpc-host`, `worker`, `serve`); the k8s/ manifests run it as uid 10001
# with a read-only root filesystem.
#   docker build -t agenthost:dev .
#   docker run --rm -p 8000:8000 -e AGENTHOST_HTTP__HOST=0.0.0.0 agenthost:dev serve

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/agenthost
WORKDIR /src
COPY pyproject.toml setup.py constraints.txt README.md ./
# agenthost -> host, host/agents -> ../agents, host/http_bridge -> ../http_bridge are symlinks in the repo.
COPY host ./host
COPY agents ./agents
COPY http_bridge ./http_bridge
COPY agenthost ./agenthost
RUN /opt/agenthost/bin/pip install -c constraints.txt . \
 && /opt/agenthost/bin/python -c "import agenthost.http_bridge, agenthost.cli, grpc_health.v1.health, redis"

FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 agenthost \
 && useradd --system --uid 10001 --gid agenthost --home-dir /home/agenthost --create-home agenthost
COPY --from=build /opt/agenthost /opt/agenthost
ENV PATH=/opt/agenthost/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGENTHOST_HTTP__HOST=0.0.0.0
WORKDIR /home/agenthost
USER 10001:10001
EXPOSE 8000 8081 50051
ENTRYPOINT ["agenthost"]
CMD ["serve"]
