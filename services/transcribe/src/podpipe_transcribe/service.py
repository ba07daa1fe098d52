"""Wiring: settings + injected clients → the handler and the runtime's Service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podpipe.events import ObjectCreated, TranscribeJobStateChanged
from podpipe.runtime.service import Consumer, Route, Service
from podpipe.stages import S3StageLedger
from podpipe_transcribe.aws import AwsTranscribeBackend
from podpipe_transcribe.backend import TranscriptionBackend
from podpipe_transcribe.handler import TranscribeConfig, TranscribeHandler
from podpipe_transcribe.model import LazyWhisperModel
from podpipe_transcribe.settings import TranscribeSettings
from podpipe_transcribe.store import S3EpisodeStore, SqsJobChecks
from podpipe_transcribe.whisper import WhisperBackend

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_transcribe import TranscribeServiceClient

QUEUE = "transcribe"


def build_backend(
    settings: TranscribeSettings,
    s3: S3Client,
    transcribe: TranscribeServiceClient | None = None,
    whisper_model: LazyWhisperModel | None = None,
) -> TranscriptionBackend:
    if settings.transcribe_backend == "aws":
        if transcribe is None:
            raise ValueError("the aws backend needs a Transcribe client")
        return AwsTranscribeBackend(
            transcribe,
            s3,
            bucket=settings.bucket,
            name_prefix=settings.name_prefix,
            max_speakers=settings.transcribe_aws_max_speakers,
            language=settings.transcribe_language,
        )
    model = whisper_model or LazyWhisperModel(
        settings.whisper_model,
        settings.whisper_cache_dir,
        compute_type=settings.whisper_compute_type,
        cpu_threads=settings.whisper_cpu_threads,
    )
    return WhisperBackend(
        model,
        language=settings.transcribe_language,
        beam_size=settings.whisper_beam_size,
        max_duration_seconds=settings.transcribe_max_duration_seconds,
        speaker_turns=settings.whisper_speaker_turns,
    )


def build_handler(
    settings: TranscribeSettings,
    *,
    s3: S3Client,
    sqs: SQSClient | None = None,
    transcribe: TranscribeServiceClient | None = None,
    backend: TranscriptionBackend | None = None,
) -> TranscribeHandler:
    return TranscribeHandler(
        store=S3EpisodeStore(s3, settings.bucket),
        backend=backend or build_backend(settings, s3, transcribe),
        checks=SqsJobChecks(sqs, settings.queue(QUEUE)) if sqs is not None else None,
        config=TranscribeConfig(
            name_prefix=settings.name_prefix, poll_seconds=settings.transcribe_aws_poll_seconds
        ),
        ledger=S3StageLedger(s3, settings.bucket),
    )


def build_service(
    settings: TranscribeSettings,
    *,
    s3: S3Client,
    sqs: SQSClient | None = None,
    transcribe: TranscribeServiceClient | None = None,
    backend: TranscriptionBackend | None = None,
) -> Service:
    """The transcribe service: uploads and Transcribe job events, both on the transcribe queue."""
    handler = build_handler(settings, s3=s3, sqs=sqs, transcribe=transcribe, backend=backend)
    return Service(
        name="transcribe",
        consumers=[
            Consumer(
                queue=QUEUE,
                routes=[
                    Route(ObjectCreated, handler.handle_upload, handler.upload_failed),
                    Route(TranscribeJobStateChanged, handler.handle_job_state, handler.job_failed),
                ],
            )
        ],
    )
