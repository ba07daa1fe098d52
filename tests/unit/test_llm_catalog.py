"""The prompt catalog: the shipped defaults load, and every catalog mistake is a load-time error."""

from __future__ import annotations

import pytest

from podpipe_llm.catalog import (
    CatalogError,
    build_catalog,
    default_catalog_dir,
    episode_variables,
    load_catalog,
    read_directory,
)
from podpipe_llm.runner import layout
from tests.support.scripted_llm import synthetic_transcript

SHIPPED = {
    "titles",
    "show-notes",
    "chapters",
    "blog-post",
    "social-posts",
    "clip-picks",
    "newsletter",
    "pull-quotes",
}


def prompt(
    prompt_id: str, body: str = "Summarise {{ transcript }}", **front: object
) -> tuple[str, str]:
    fields = {"id": prompt_id, "description": f"the {prompt_id} prompt", **front}
    header = "\n".join(f"{k}: {v}" for k, v in fields.items())
    return (f"{prompt_id}.md", f"---\n{header}\n---\n{body}\n")


def test_the_shipped_catalog_loads_with_every_prompt_a_show_needs() -> None:
    catalog = load_catalog()

    assert set(catalog.prompts) == SHIPPED
    clip_picks = catalog.get("clip-picks")
    assert (clip_picks.output, clip_picks.output_schema) == ("json", "clip-picks")
    assert catalog.get("blog-post").depends_on == ["chapters"]
    order = [p.id for p in catalog.ordered()]
    assert order.index("chapters") < order.index("blog-post")


def test_every_shipped_prompt_renders_without_leftover_placeholders() -> None:
    catalog = load_catalog()
    transcript = synthetic_transcript("ep-1", 600)
    from podpipe.layout import EpisodeMetadata

    variables = episode_variables(transcript, EpisodeMetadata(title="T", show="S"))
    variables["outputs.chapters"] = '{"chapters": []}'
    for spec in catalog.enabled():
        text, system = layout(spec, variables)
        assert "{{" not in text + system, spec.id
        assert spec.shares_prefix, spec.id  # the transcript comes first, in the shared prefix
        assert "[00:00:00]" in system, spec.id  # the transcript with timestamps
        assert "[00:00:00]" not in text, spec.id  # the task comes last, without it
        if spec.output == "json":
            assert '"properties"' in text, spec.id  # the JSON Schema is shown to the model


def test_an_unknown_variable_is_reported_when_the_catalog_loads() -> None:
    with pytest.raises(CatalogError, match=r"unknown variable \{\{ speakers \}\}"):
        build_catalog([prompt("notes", "Use {{ speakers }} and {{ transcript }}")])


def test_a_dependency_on_a_missing_prompt_is_a_load_time_error() -> None:
    with pytest.raises(CatalogError, match=r"outputs\.chapters"):
        build_catalog([prompt("blog", "{{ outputs.chapters }} {{ transcript }}")])


def test_a_dependency_cycle_is_a_load_time_error() -> None:
    with pytest.raises(CatalogError, match="cycle"):
        build_catalog(
            [prompt("a", "{{ outputs.b }}"), prompt("b", "{{ outputs.a }}")],
        )


def test_json_output_needs_a_known_schema() -> None:
    with pytest.raises(CatalogError, match="unknown schema 'tweets'"):
        build_catalog([prompt("x", output="json", schema="tweets")])
    with pytest.raises(CatalogError, match="needs `schema:`"):
        build_catalog([prompt("x", output="json")])


def test_bad_front_matter_names_the_file() -> None:
    with pytest.raises(CatalogError, match=r"broken\.md: max_output_tokens"):
        build_catalog(
            [("broken.md", "---\nid: x\ndescription: d\nmax_output_tokens: lots\n---\nhi\n")]
        )


def test_bucket_overrides_replace_defaults_by_id_and_can_disable_them() -> None:
    defaults = read_directory(default_catalog_dir())
    overrides = [
        prompt("titles", "Three titles only: {{ transcript }}", temperature=0.1),
        prompt("newsletter", enabled="false"),
        prompt("faq", "Write an FAQ from {{ transcript }}"),
    ]

    catalog = build_catalog(defaults, [(f"s3://bucket/prompts/{n}", t) for n, t in overrides])

    assert catalog.get("titles").temperature == 0.1
    assert catalog.get("titles").source == "s3://bucket/prompts/titles.md"
    ids = [p.id for p in catalog.ordered()]
    assert "newsletter" not in ids
    assert "faq" in ids


def test_disabling_a_prompt_another_one_needs_is_refused() -> None:
    defaults = read_directory(default_catalog_dir())
    with pytest.raises(CatalogError, match="needs 'chapters', which is disabled"):
        build_catalog(defaults, [prompt("chapters", enabled="false")])
