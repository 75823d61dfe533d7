"""The processes agenthost runs as: the gRPC host, agent workers (and, in ``agenthost.http_bridge``, the bridge)."""
