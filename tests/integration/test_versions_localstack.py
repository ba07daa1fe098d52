"""Episode versions on LocalStack S3: what a new recording moves aside and what it leaves."""

from __future__ import annotations

from podpipe.layout import EpisodeKeys
from podpipe.release.model import ReleaseKeys
from podpipe.versions import begin_version
from tests.support.localstack import Stack


def _names(stack: Stack, prefix: str) -> set[str]:
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for o in listed.get("Contents", [])}


def test_a_new_recording_leaves_the_release_where_it_is(stack: Stack) -> None:
    """An approved or published release must not be moved aside with the old outputs: it
    would lose its state (the next `podpipe release` would start from a draft)."""
    keys = EpisodeKeys("ep-rel")
    release = ReleaseKeys("ep-rel", "show")
    assert begin_version(stack.s3, stack.bucket, "ep-rel", "etag-1", "m-1").number == 1
    for key in (keys.audio, keys.prompt_output("titles", "md"), release.notes_version(1)):
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"take 1")
    stack.s3.put_object(Bucket=stack.bucket, Key=release.release, Body=b'{"state": "approved"}')

    assert begin_version(stack.s3, stack.bucket, "ep-rel", "etag-2", "m-2").number == 2

    current = {n for n in _names(stack, keys.root) if not n.startswith("versions/")}
    assert {"release.json", "release/show-notes.v001.md", "version.json"} == current
    body = stack.s3.get_object(Bucket=stack.bucket, Key=release.release)["Body"].read()
    assert body == b'{"state": "approved"}'
    assert _names(stack, keys.version_prefix(1)) == {"audio.mp3", "outputs/titles.md"}


def test_large_outputs_are_moved_aside_with_a_multipart_copy(stack: Stack) -> None:
    """S3's CopyObject refuses objects above 5 GB: the archive copies large objects in parts
    (boto3's managed copy; its 8 MB threshold stands in for the 5 GB here), keeping the
    content type and metadata."""
    keys = EpisodeKeys("ep-big")
    assert begin_version(stack.s3, stack.bucket, "ep-big", "etag-1", "m-1").number == 1
    body = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # 9 MB: above the threshold
    stack.s3.put_object(
        Bucket=stack.bucket,
        Key=keys.video,
        Body=body,
        ContentType="video/mp4",
        Metadata={"podpipe-title": "Take 1"},
    )

    begin_version(stack.s3, stack.bucket, "ep-big", "etag-2", "m-2")

    archived = keys.version_prefix(1) + "video.mp4"
    head = stack.s3.head_object(Bucket=stack.bucket, Key=archived)
    assert "-" in head["ETag"]  # assembled from copied parts, not one CopyObject
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {"podpipe-title": "Take 1"}
    assert stack.s3.get_object(Bucket=stack.bucket, Key=archived)["Body"].read() == body
    assert "video.mp4" not in _names(stack, keys.root)
