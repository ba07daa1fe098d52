"""The README's configuration reference, generated from the settings classes themselves.

`python -m tests.support.config_reference` rewrites the block between the markers in
README.md; tests/unit/test_config_reference.py fails when the block is stale, so every
environment variable a service reads is documented with its real default.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from podpipe.settings import CoreSettings, MediaSettings
from podpipe_clips.settings import ClipsSettings
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.settings import LlmSettings
from podpipe_local.llm import LocalLlmSettings
from podpipe_notify.settings import NotifySettings
from podpipe_promote.settings import PromoteSettings
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcribe.settings import TranscribeSettings

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- config:start -->", "<!-- config:end -->"
SECTIONS: tuple[tuple[str, type[BaseSettings]], ...] = (
    ("Every service and the CLI", CoreSettings),
    ("transcode and clips (the media settings both read)", MediaSettings),
    ("transcode", TranscodeSettings),
    ("clips", ClipsSettings),
    ("transcribe", TranscribeSettings),
    ("llm", LlmSettings),
    ("notify", NotifySettings),
    ("prep (`podpipe prep`; also reads the llm settings above)", PrepSettings),
    ("promote (and the release scheduler it shares)", PromoteSettings),
    ("local LLM (`make up`, `make demo`; ignored when an LLM is configured)", LocalLlmSettings),
)


def _env_name(cls: type[BaseSettings], name: str) -> str:
    alias = cls.model_fields[name].validation_alias
    if isinstance(alias, str):
        return alias
    return (str(cls.model_config.get("env_prefix", "")) + name).upper()


def _default(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
    if value is None or value == "":
        return "(unset)"
    text = str(value)
    return text.replace(str(Path.home()), "~")


def render() -> str:
    seen: set[str] = set()
    lines: list[str] = []
    for title, cls in SECTIONS:
        lines += [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            if name in seen:
                continue
            seen.add(name)
            meaning = (field.description or "").replace("|", "/")
            lines.append(f"| `{_env_name(cls, name)}` | `{_default(cls, name)}` | {meaning} |")
        lines.append("")
    return "\n".join(lines)


def readme_block(text: str) -> str:
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    if match is None:
        raise ValueError("README.md has no configuration block markers")
    return match.group(1)


def update_readme() -> None:
    text = README.read_text()
    readme_block(text)  # the markers must be there
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{render()}{END}{tail}")


if __name__ == "__main__":
    update_readme()
