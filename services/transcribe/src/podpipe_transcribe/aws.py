"""The ``aws`` backend: Amazon Transcribe batch jobs, with speaker labels and subtitles.

Non-blocking: ``submit`` starts a job and returns; the handler acks the message and resumes
when Transcribe's "Transcribe Job State Change" event (or podpipe's delayed self-check, for
when that best-effort event is lost) arrives on the transcribe queue; ``check`` then reads
the job and, once it is COMPLETED, the transcript JSON Transcribe wrote into podpipe's bucket.

The job name is derived from the episode id and the upload's ETag, so a redelivered upload
maps to the same job: StartTranscriptionJob answers ConflictException and the existing job is
used (a re-upload with different content gets a new job).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from podpipe.layout import EpisodeKeys
from podpipe_transcribe.backend import (
    Finished,
    JobFailedError,
    Started,
    TranscriptionRequest,
)
from podpipe_transcribe.core import SENTENCE_END, RawSegment, RawTranscript, RawWord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_transcribe import TranscribeServiceClient

_ETAG_UNSAFE = re.compile(r"[^0-9a-zA-Z]")
RAW_OUTPUT_DIR = "transcribe-aws/"  # Transcribe writes <job>.json/.srt/.vtt here


def job_name_for(prefix: str, episode_id: str, source_etag: str) -> str:
    """``<prefix>-<episode id>--<first 12 of the ETag>`` (≤ 200 chars, Transcribe's charset)."""
    etag = _ETAG_UNSAFE.sub("", source_etag)[:12] or "noetag"
    return f"{prefix}-{episode_id}--{etag}"[:200]


def episode_id_from_job_name(prefix: str, job_name: str) -> str | None:
    """The episode a job belongs to, or None when the job is not one of podpipe's."""
    head = f"{prefix}-"
    if not job_name.startswith(head) or "--" not in job_name[len(head) :]:
        return None
    return job_name[len(head) :].rpartition("--")[0] or None


def raw_output_key(episode_id: str, job_name: str, extension: str = "json") -> str:
    return f"{EpisodeKeys(episode_id).root}{RAW_OUTPUT_DIR}{job_name}.{extension}"


# --------------------------------------------------------------------------- parsing (pure)


def _speaker_by_start(results: dict[str, Any]) -> dict[str, str]:
    """start_time → speaker label, from ``speaker_labels.segments[].items`` (older output
    puts speakers only there; newer output also labels each item)."""
    mapping: dict[str, str] = {}
    for seg in results.get("speaker_labels", {}).get("segments", []):
        for item in seg.get("items", []):
            mapping[str(item["start_time"])] = str(item["speaker_label"])
    return mapping


def parse_transcript(
    document: dict[str, Any], duration_seconds: float | None = None
) -> RawTranscript:
    """Transcribe's output JSON → RawTranscript: words with times (strings in the JSON),
    punctuation glued to the word before it, one segment per sentence or speaker turn."""
    results = document["results"]
    speakers = _speaker_by_start(results)
    diarized = bool(speakers) or any("speaker_label" in i for i in results.get("items", []))
    segments: list[RawSegment] = []
    words: list[RawWord] = []
    speaker: str | None = None

    def close() -> None:
        nonlocal words
        if words:
            text = " ".join(w.text for w in words)
            segments.append(RawSegment(words[0].start, words[-1].end, text, speaker, tuple(words)))
        words = []

    for item in results.get("items", []):
        best = item["alternatives"][0]
        content = str(best["content"])
        if item["type"] == "punctuation":
            if words:
                last = words[-1]
                words[-1] = RawWord(last.start, last.end, last.text + content, last.confidence)
                if content in SENTENCE_END:
                    close()
            continue
        start = float(item["start_time"])
        label = item.get("speaker_label") or speakers.get(str(item["start_time"]))
        if label != speaker:
            close()
            speaker = label
        words.append(RawWord(start, float(item["end_time"]), content, float(best["confidence"])))
    close()
    end = segments[-1].end if segments else 0.0
    language = str(results.get("language_code") or document.get("language_code") or "")
    return RawTranscript(
        language=language.split("-")[0] or "und",
        duration_seconds=duration_seconds if duration_seconds is not None else end,
        segments=tuple(segments),
        diarized=diarized,
        backend="aws",
    )


# --------------------------------------------------------------------------- the adapter


class AwsTranscribeBackend:
    name = "aws"
    asynchronous = True

    def __init__(
        self,
        transcribe: TranscribeServiceClient,
        s3: S3Client,
        *,
        bucket: str,
        name_prefix: str,
        max_speakers: int = 4,
        language: str = "",
    ) -> None:
        self.transcribe = transcribe
        self.s3 = s3
        self.bucket = bucket
        self.name_prefix = name_prefix
        self.max_speakers = max_speakers
        self.language = language

    def job_name(self, request: TranscriptionRequest) -> str:
        return job_name_for(self.name_prefix, request.episode_id, request.source_etag)

    def submit(self, request: TranscriptionRequest, audio_path: Path | None) -> Finished | Started:
        job_name = self.job_name(request)
        params: dict[str, Any] = {
            "TranscriptionJobName": job_name,
            "Media": {"MediaFileUri": request.source.uri},
            "OutputBucketName": self.bucket,
            "OutputKey": raw_output_key(request.episode_id, job_name),
            "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": self.max_speakers},
            "Subtitles": {"Formats": ["srt", "vtt"], "OutputStartIndex": 1},
            "Tags": [{"Key": "podpipe:episode", "Value": request.episode_id}],
        }
        if self.language:
            params["LanguageCode"] = self.language
        else:
            params["IdentifyLanguage"] = True
        try:
            self.transcribe.start_transcription_job(**params)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            # A redelivery: the job already exists. Its current state decides what happens.
            return self.check(job_name)
        return Started(job_name)

    def check(self, job_name: str) -> Finished | Started:
        job = self.transcribe.get_transcription_job(TranscriptionJobName=job_name)[
            "TranscriptionJob"
        ]
        status = job.get("TranscriptionJobStatus")
        if status == "FAILED":
            raise JobFailedError(job.get("FailureReason") or "Amazon Transcribe failed the job")
        if status != "COMPLETED":
            return Started(job_name)
        episode_id = episode_id_from_job_name(self.name_prefix, job_name)
        if episode_id is None:
            raise JobFailedError(f"job {job_name!r} is not a podpipe job")
        body = self.s3.get_object(Bucket=self.bucket, Key=raw_output_key(episode_id, job_name))
        document = json.loads(body["Body"].read())
        raw = parse_transcript(document)
        language = job.get("LanguageCode") or raw.language
        return Finished(
            RawTranscript(
                language=str(language).split("-")[0],
                duration_seconds=raw.duration_seconds,
                segments=raw.segments,
                diarized=raw.diarized,
                backend=self.name,
            )
        )
