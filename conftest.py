"""Shared pytest plugins: LocalStack and local LLM fixtures for integration and e2e tests."""

pytest_plugins = ["tests.support.localstack", "tests.support.local_llm"]
