"""podpipe llm service."""
