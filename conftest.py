"""Shared pytest plugins: LocalStack, local LLM and local PDS fixtures for integration and e2e tests."""

pytest_plugins = ["tests.support.localstack", "tests.support.local_llm", "tests.support.pds"]
