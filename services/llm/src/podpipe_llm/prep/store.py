"""prep's documents in the bucket: the team's config, the briefs, the running orders."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from podpipe import s3io
from podpipe.events import S3Location
from podpipe.layout import PREP_PREFIX
from podpipe_llm.prep.models import (
    CONFIG_KEYS,
    DATE_PATTERN,
    Brief,
    PrepConfig,
    RunningOrder,
    brief_json_key,
    brief_markdown_key,
    running_order_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class PrepConfigError(ValueError):
    """The prep configuration is missing or invalid (names the key and the fields)."""


def parse_config(raw: bytes, where: str) -> PrepConfig:
    try:
        data: Any = (
            json.loads(raw) if where.endswith(".json") else yaml.safe_load(raw.decode("utf-8"))
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise PrepConfigError(f"{where} is not valid: {exc}") from None
    try:
        return PrepConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in exc.errors()[:6]
        )
        raise PrepConfigError(f"{where}: {problems}") from None


class S3PrepStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def read_config(self) -> PrepConfig:
        for key in CONFIG_KEYS:
            raw = s3io.get_bytes_or_none(self._s3, self.bucket, key)
            if raw is not None:
                return parse_config(raw, f"s3://{self.bucket}/{key}")
        raise PrepConfigError(
            f"no prep configuration: put {CONFIG_KEYS[0]} (feeds, audience, max_items) in "
            f"s3://{self.bucket}/"
        )

    def read_prompt_overrides(self) -> dict[str, str]:
        """``prep/prompts/<id>.md`` by key: the team's edits of the prep prompts."""
        from podpipe_llm.prep.writer import PREP_PROMPTS_PREFIX

        found: dict[str, str] = {}
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=PREP_PROMPTS_PREFIX):
            for obj in page.get("Contents", []):
                key = obj.get("Key", "")
                if key.endswith(".md") and "/" not in key[len(PREP_PROMPTS_PREFIX) :]:
                    raw = s3io.get_bytes_or_none(self._s3, self.bucket, key)
                    if raw is not None:
                        found[key] = raw.decode("utf-8")
        return found

    def brief_dates(self) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        dates: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=PREP_PREFIX, Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                name = prefix.get("Prefix", "")[len(PREP_PREFIX) :].rstrip("/")
                if DATE_PATTERN.fullmatch(name):
                    dates.append(name)
        return sorted(dates)

    def read_brief(self, date: str) -> Brief | None:
        raw = s3io.get_bytes_or_none(self._s3, self.bucket, brief_json_key(date))
        return None if raw is None else Brief.model_validate_json(raw)

    def read_brief_markdown(self, date: str) -> str | None:
        raw = s3io.get_bytes_or_none(self._s3, self.bucket, brief_markdown_key(date))
        return None if raw is None else raw.decode("utf-8")

    def latest_brief_before(self, date: str) -> Brief | None:
        earlier = [d for d in self.brief_dates() if d < date]
        return self.read_brief(earlier[-1]) if earlier else None

    def write_brief(self, brief: Brief, markdown: str) -> tuple[S3Location, S3Location]:
        md_key, json_key = brief_markdown_key(brief.date), brief_json_key(brief.date)
        s3io.put_text(self._s3, self.bucket, md_key, markdown, "text/markdown; charset=utf-8")
        # The JSON last: its presence means the brief is complete.
        s3io.put_text(
            self._s3, self.bucket, json_key, brief.model_dump_json(indent=2), "application/json"
        )
        return (
            S3Location(bucket=self.bucket, key=md_key),
            S3Location(bucket=self.bucket, key=json_key),
        )

    def write_running_order(self, order: RunningOrder) -> S3Location:
        key = running_order_key(order.episode_id)
        s3io.put_text(
            self._s3, self.bucket, key, order.model_dump_json(indent=2), "application/json"
        )
        return S3Location(bucket=self.bucket, key=key)

    def read_running_order(self, episode_id: str) -> RunningOrder | None:
        raw = s3io.get_bytes_or_none(self._s3, self.bucket, running_order_key(episode_id))
        return None if raw is None else RunningOrder.model_validate_json(raw)
