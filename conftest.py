"""Shared pytest plugins: LocalStack fixtures for integration and e2e tests."""

pytest_plugins = ["tests.support.localstack"]
