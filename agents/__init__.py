"""The agents that ship with agenthost, one module each; each module's ``setup(registry)`` adds it."""
