"""The turn machinery: hosted agents, the AgentChat adapter, events, the registry and plugins."""
