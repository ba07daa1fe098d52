"""The messaging topology (bus, queues with DLQs, rules), declared once in topology.yaml.

Both `podpipe local bootstrap` and infra/terraform read the same file, so LocalStack and AWS
cannot drift. This module only describes; `podpipe_local.bootstrap` creates it on an endpoint.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SQS_MAX_VISIBILITY_SECONDS = 12 * 60 * 60


class QueueSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    visibility_timeout: int = Field(ge=0, le=SQS_MAX_VISIBILITY_SECONDS)
    max_receive_count: int = Field(ge=1, le=1000)
    retention: int = Field(ge=60, le=1209600)
    dlq_retention: int = Field(ge=60, le=1209600)
    concurrency: int = Field(ge=1, le=10)

    @model_validator(mode="after")
    def _dlq_outlives_queue(self) -> QueueSpec:
        # A message's age counts from its first enqueue, so a DLQ must keep messages longer
        # than the source queue or redriven messages expire on arrival.
        if self.dlq_retention <= self.retention:
            raise ValueError("dlq_retention must be longer than retention")
        return self


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target: str
    pattern: dict[str, Any]


class Topology(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bus: str
    bucket: str
    queues: dict[str, QueueSpec]
    rules: dict[str, RuleSpec]
    default_bus_rules: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_target_queues(self) -> Topology:
        for name, rule in self.rules.items():
            if rule.target not in self.queues:
                raise ValueError(f"rule {name!r} targets unknown queue {rule.target!r}")
        unknown = set(self.default_bus_rules) - set(self.rules)
        if unknown:
            raise ValueError(f"default_bus_rules names unknown rules: {sorted(unknown)}")
        return self

    def queue(self, name: str) -> QueueSpec:
        try:
            return self.queues[name]
        except KeyError:
            raise KeyError(f"no queue {name!r} in topology; known: {sorted(self.queues)}") from None

    def rule_pattern(self, rule: str, bucket_name: str, prefix: str) -> str:
        """The rule's event pattern as JSON, with ${bucket} and ${prefix} filled in."""
        pattern = json.dumps(self.rules[rule].pattern)
        return pattern.replace("${bucket}", bucket_name).replace("${prefix}", prefix)

    def is_default_bus_rule(self, rule: str) -> bool:
        return rule in self.default_bus_rules


def queue_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}"


def dlq_name(prefix: str, queue: str) -> str:
    return f"{prefix}-{queue}-dlq"


def rule_name(prefix: str, rule: str) -> str:
    return f"{prefix}-{rule}"


def topic_name(prefix: str, topic: str) -> str:
    return f"{prefix}-{topic}"


@cache
def load_topology() -> Topology:
    text = resources.files("podpipe").joinpath("topology.yaml").read_text()
    return Topology.model_validate(yaml.safe_load(text))
