"""Model backends: which one serves, the shared client every agent gets, and the offline model."""
