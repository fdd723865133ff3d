"""The API's routers: signals, execution, risk, learning, health and metrics."""
