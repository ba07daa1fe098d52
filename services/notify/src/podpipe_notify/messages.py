"""What the team is told, as data, and how it reads in an e-mail and in Slack (pure, no I/O).

A :class:`Notification` is built once per event and rendered twice: as plain text for SNS
(e-mail subscribers, and Slack channels' e-mail addresses) and as Slack Block Kit for the
incoming webhook. Limits that would make a channel reject a message are enforced here:

* SNS subject: ASCII, no line breaks, under 100 characters; message body ≤ 256 KB.
* Slack: header ≤ 150 characters, section text ≤ 3,000 characters, ≤ 50 blocks, and
  ``& < >`` escaped in every piece of text podpipe did not write itself.

Long text is cut and followed by a link to the full text (a presigned S3 URL).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from podpipe.events import (
    AudioTranscoded,
    BriefGuest,
    BriefPrepared,
    ClipsFailed,
    ClipsRendered,
    EpisodeCompleted,
    EpisodePublished,
    EpisodeUnpublished,
    EpisodeVersionStarted,
    Failure,
    PromotionFailed,
    PromotionPosted,
    PromotionReadyToPost,
    PromptCompleted,
    PromptFailed,
    TranscodeFailed,
    TranscriptionFailed,
    TranscriptReady,
    UploadRejected,
    VideoFailed,
)

SUBJECT_MAX = 99  # SNS: "must be less than 100 characters long"
SNS_BODY_MAX_BYTES = 250_000  # SNS allows 256 KiB per message, attributes included
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_MAX_BLOCKS = 50
DEFAULT_SLACK_SECTION_CHARS = 2500
ELLIPSIS = "…"

Level = Literal["info", "success", "failure"]
_ICON = {"info": ":information_source:", "success": ":white_check_mark:", "failure": ":x:"}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Section:
    """One block of a message. ``text`` is plain text; ``full_text`` links to it when cut."""

    text: str
    heading: str = ""
    links: tuple[Link, ...] = ()
    full_text: Link | None = None
    preformatted: bool = False


@dataclass(frozen=True)
class Notification:
    kind: str
    episode_id: str
    title: str
    level: Level = "info"
    sections: tuple[Section, ...] = field(default_factory=tuple)
    brief_date: str = ""  # a prep brief's message: no episode yet, its date instead
    rejected_upload: str = ""  # an "Upload failed" message: no episode, the key as uploaded


# --------------------------------------------------------------------------- helpers


def duration_text(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def when_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut at a line or word boundary near ``limit`` characters; True if anything was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[: max(0, limit - 1)]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    if boundary > limit * 0.6:
        cut = cut[:boundary]
    return cut.rstrip() + ELLIPSIS, True


def first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip(" #*-") for ln in text.splitlines() if ln.strip(" #*-")), "")
    return truncate(line, limit)[0]


# --------------------------------------------------------------------------- builders


def audio_ready(event: AudioTranscoded) -> Notification:
    facts = (
        f"Duration {duration_text(event.duration_seconds)} · "
        f"{event.integrated_lufs:.1f} LUFS · true peak {event.true_peak_dbtp:.1f} dBTP · "
        f"{event.bitrate_kbps} kbps, {event.size_bytes / 1_000_000:.1f} MB"
    )
    sections = [
        Section(
            text=f"{facts}\nThe download link expires {when_text(event.presigned_url_expires_at)}.",
            links=(Link("Download the MP3", event.presigned_url),),
        )
    ]
    if event.metadata_problems:
        # The audio went on without these parts; the host fixes the sidecar and re-uploads it.
        sections.append(
            Section(
                heading="Episode metadata problems (the episode went on without them)",
                text="\n".join(f"• {problem}" for problem in event.metadata_problems),
            )
        )
    return Notification(
        kind="audio-ready",
        episode_id=event.episode_id,
        title=f"Audio ready: {event.episode_id}",
        level="success",
        sections=tuple(sections),
    )


def transcript_ready(event: TranscriptReady, links: Sequence[Link] = ()) -> Notification:
    return Notification(
        kind="transcript-ready",
        episode_id=event.episode_id,
        title=f"Transcript ready: {event.episode_id}",
        level="success",
        sections=(
            Section(
                text=(
                    f"{event.word_count} words, {duration_text(event.duration_seconds)}, "
                    f"language {event.language}, transcribed by {event.backend}. "
                    "Prompts start now."
                ),
                links=tuple(links),
            ),
        ),
    )


def prompt_line(event: PromptCompleted, url: str | None) -> Notification:
    """The default per-prompt message: one line (the digest at the end has everything)."""
    preview = first_line(event.preview)
    without = (
        f" — made WITHOUT {', '.join(event.missing_dependencies)} (it failed)"
        if event.missing_dependencies
        else ""
    )
    text = f"{event.prompt_id} ({event.model}, {event.latency_seconds:.1f} s){without}: {preview}"
    return Notification(
        kind="prompt-completed",
        episode_id=event.episode_id,
        title=f"Prompt done: {event.prompt_id} for {event.episode_id}",
        level="success",
        sections=(Section(text=text, links=(Link("Full output", url),) if url else ()),),
    )


def prompt_output(event: PromptCompleted, output_text: str, url: str | None) -> Notification:
    """The whole output (cut per channel, with a link to the full text)."""
    return Notification(
        kind="prompt-completed",
        episode_id=event.episode_id,
        title=f"{event.prompt_id} for {event.episode_id}",
        level="success",
        sections=(
            Section(
                text=output_text,
                heading=f"{event.prompt_id} · {event.model}",
                full_text=Link("Full text", url) if url else None,
                preformatted=event.output_format == "json",
            ),
        ),
    )


def failure_text(failure: Failure) -> str:
    """What went wrong, the same way in every "… failed" message."""
    return f"{failure.error_type} after {failure.attempts} attempt(s): {failure.reason}"


def prompt_failed(event: PromptFailed) -> Notification:
    return Notification(
        kind="prompt-failed",
        episode_id=event.episode_id,
        title=f"Prompt failed: {event.prompt_id} for {event.episode_id}",
        level="failure",
        sections=(
            Section(
                text=(
                    f"Model {event.model}: {failure_text(event.failure)}\n"
                    "Every other prompt carries on. Once the cause is fixed, replay just this one:"
                ),
            ),
            Section(text=event.replay_command, preformatted=True),
        ),
    )


StageFailedEvent = TranscodeFailed | TranscriptionFailed | ClipsFailed | VideoFailed
_STAGE_NAME = {
    TranscodeFailed: "Transcode",
    TranscriptionFailed: "Transcription",
    ClipsFailed: "Clips",
    VideoFailed: "Video",
}


def stage_failed(event: StageFailedEvent) -> Notification:
    stage = _STAGE_NAME[type(event)]
    failure = event.failure
    if isinstance(event, ClipsFailed | VideoFailed):
        advice = "The episode's other outputs are unaffected."
    elif failure.error_type == "RejectedInputError":
        # Bad input never waits in a DLQ: a replay would fail the same way.
        advice = "Fix the file and upload it again under the same name."
    else:
        advice = "The message is in the DLQ: fix the cause, then `podpipe dlq replay` it."
    return Notification(
        kind=f"{stage.lower()}-failed",
        episode_id=event.episode_id,
        title=f"{stage} failed: {event.episode_id}",
        level="failure",
        sections=(Section(text=f"{failure_text(failure)}\n{advice}"),),
    )


def version_started(event: EpisodeVersionStarted) -> Notification:
    return Notification(
        kind="version-started",
        episode_id=event.episode_id,
        title=f"New version processing: {event.episode_id} (version {event.version})",
        level="info",
        sections=(
            Section(
                text=(
                    f"A different recording was uploaded as {event.source.key}: the audio, "
                    "transcript, every prompt, the clips and the digest are made again for it. "
                    f"Version {event.previous_version}'s outputs are kept under "
                    f"{event.archived_prefix}."
                )
            ),
        ),
    )


def upload_rejected(event: UploadRejected) -> Notification:
    """An upload with a name podpipe refuses (no episode exists to report on)."""
    return Notification(
        kind="upload-rejected",
        episode_id="",
        title=f"Upload failed: {event.source.key[:80]}",
        level="failure",
        rejected_upload=event.source.key,
        sections=(
            Section(
                text=f"{event.reason}\nRename the file (a-z, 0-9 and '-', e.g. "
                "uploads/2026-11-27-ep42.m4a) and upload it again."
            ),
        ),
    )


def brief_prepared(event: BriefPrepared, brief_url: str | None) -> Notification:
    """The week's brief for the team (and the guest): the items with their real links."""
    items = "\n".join(f"{i.rank}. {i.title}" for i in event.items) or "No item could be briefed."
    sections = [
        Section(
            text=items,
            links=tuple(Link(f"{i.rank}. {i.title[:60]}", i.url) for i in event.items),
        )
    ]
    if event.problems:
        sections.append(
            Section(
                heading="Could not be read (reported in the brief)",
                text="\n".join(f"{p.source}: {p.reason}" for p in event.problems),
            )
        )
    if brief_url:
        sections.append(Section(text="The whole brief:", links=(Link("brief.md", brief_url),)))
    if event.guests:
        names = ", ".join(g.name or "a guest" for g in event.guests)
        sections.append(Section(text=f"Sent to the guest(s) too: {names}."))
    return Notification(
        kind="brief-prepared",
        episode_id="",
        title=f"Brief for {event.date}: {len(event.items)} item(s) for {event.show}",
        level="failure" if event.problems and not event.items else "info",
        sections=tuple(sections),
        brief_date=event.date,
    )


def brief_for_guest(event: BriefPrepared, guest: BriefGuest, brief_markdown: str) -> Notification:
    """The brief as the guest reads it: the items, their links and the questions — without
    the team's notes (what could not be read, how to mark the running order)."""
    greeting = f"Hello {guest.name}," if guest.name else "Hello,"
    kept: list[str] = []
    for line in brief_markdown.splitlines():
        if line.startswith("## Could not be read"):
            break
        if "podpipe prep choose" not in line:
            kept.append(line)
    return Notification(
        kind="brief-for-guest",
        episode_id="",
        title=f"{event.show}: this week's news before we record ({event.date})",
        sections=(
            Section(
                text=f"{greeting}\n\nhere is what we may talk about on {event.show}: "
                f"{len(event.items)} item(s), each with its link and two questions you might ask."
            ),
            Section(text="\n".join(kept).strip(), links=_headline_links(event)),
        ),
        brief_date=event.date,
    )


def _headline_links(event: BriefPrepared) -> tuple[Link, ...]:
    return tuple(Link(f"{i.rank}. {i.title[:60]}", i.url) for i in event.items)


def clips_rendered(event: ClipsRendered) -> Notification:
    lines = [
        f"{c.index}. {c.title} ({duration_text(c.start)}–{duration_text(c.end)}): {c.hook}"
        for c in event.clips
    ]
    links = [Link(f"Clip {c.index} audio", c.audio_url) for c in event.clips]
    links += [Link(f"Clip {c.index} video", c.video_url) for c in event.clips if c.video_url]
    if event.trailer_url:
        links.append(Link("Trailer", event.trailer_url))
    if event.skipped:
        lines.append(f"Skipped: {', '.join(event.skipped)}")
    if event.presigned_url_expires_at:
        lines.append(f"Links expire {when_text(event.presigned_url_expires_at)}.")
    return Notification(
        kind="clips-rendered",
        episode_id=event.episode_id,
        title=f"Clips rendered: {len(event.clips)} for {event.episode_id}",
        level="success",
        sections=(Section(text="\n".join(lines), links=tuple(links)),),
    )


def episode_completed(event: EpisodeCompleted, *, title: str = "") -> Notification:
    failed = set(event.failed_prompts)
    headline = (
        f"Episode completed: {event.episode_id}"
        if not failed
        else f"Episode completed with {len(failed)} failed prompt(s): {event.episode_id}"
    )
    summary = [title] if title else []
    summary.append(
        f"Wall time {duration_text(event.wall_seconds)} · estimated cost "
        f"${event.estimated_cost_usd:.4f}"
        + (
            " ("
            + ", ".join(f"{name} ${value:.4f}" for name, value in event.cost_breakdown.items())
            + ")"
            if event.cost_breakdown
            else ""
        )
    )
    if failed:
        summary.append(
            "Failed prompts (see their 'Prompt failed' message for the replay command): "
            + ", ".join(sorted(failed))
        )
    if event.made_without:
        summary.append(
            "Made without a failed dependency (replay the dependency, then these): "
            + ", ".join(
                f"{prompt} (without {', '.join(deps)})"
                for prompt, deps in sorted(event.made_without.items())
            )
        )
    timings = "\n".join(
        f"{t.stage:<24} {t.status:<6} {duration_text(t.seconds):>8}" for t in event.timings
    )
    outputs = tuple(Link(o.name, o.url) for o in event.outputs if o.url)
    unlinked = [o.location.uri for o in event.outputs if not o.url]
    sections = [
        Section(text="\n".join(summary)),
        Section(
            heading="Outputs",
            text=f"{len(event.outputs)} artifacts"
            + (":\n" + "\n".join(unlinked) if unlinked else ""),
            links=outputs,
        ),
    ]
    if timings:
        sections.append(Section(heading="Timings", text=timings, preformatted=True))
    return Notification(
        kind="episode-completed",
        episode_id=event.episode_id,
        title=headline,
        level="failure" if failed else "success",
        sections=tuple(sections),
    )


def all_outputs_ready(event: EpisodeCompleted, replayed: str, *, title: str = "") -> Notification:
    """The follow-up once a replay repaired the last failed prompt of a digested episode."""
    digest = episode_completed(event, title=title)
    return Notification(
        kind="all-outputs-ready",
        episode_id=event.episode_id,
        title=f"All outputs ready after replaying {replayed}: {event.episode_id}",
        level="success",
        sections=digest.sections,
    )


def episode_published(event: EpisodePublished) -> Notification:
    """The episode is in its show's public feed: the feed and the episode's links."""
    how = "on schedule" if event.scheduled else "now"
    return Notification(
        kind="episode-published",
        episode_id=event.episode_id,
        title=f"Published: {event.title}",
        level="success",
        sections=(
            Section(
                text=f"{event.show_title} · {event.episode_id} went out {how}, "
                f"{when_text(event.published_at)}.\nguid {event.guid}",
                links=(Link("Feed", event.feed_url), Link("Episode (MP3)", event.episode_url)),
            ),
        ),
    )


def episode_unpublished(event: EpisodeUnpublished) -> Notification:
    """The episode was taken out of its feed (or its scheduled release cancelled)."""
    return Notification(
        kind="episode-unpublished",
        episode_id=event.episode_id,
        title=f"Unpublished: {event.episode_id}",
        sections=(
            Section(
                text=f"{event.episode_id} was taken out of the {event.show_id} feed "
                f"(or its scheduled release was cancelled), {when_text(event.unpublished_at)}. "
                "Its promotion plan is cancelled; `podpipe publish` puts it back.",
            ),
        ),
    )


def promotion_ready(event: PromotionReadyToPost) -> Notification:
    """A plan item for a network podpipe does not post to: the text and the clip, to post by hand."""
    links = [Link("Episode", event.episode_link)]
    if event.clip_url:
        links.insert(0, Link("Clip video", event.clip_url))
    return Notification(
        kind="promotion-ready",
        episode_id=event.episode_id,
        title=f"Ready to post on {event.network}: {event.episode_id}",
        sections=(
            Section(
                text=f"Item {event.item_id}, planned for {when_text(event.scheduled_for)}. "
                "Copy the text below and attach the clip.",
                links=tuple(links),
            ),
            Section(text=event.text, heading="Text", preformatted=True),
        ),
    )


def promotion_posted(event: PromotionPosted) -> Notification:
    how = "with its clip" if event.with_video else "with a link card"
    return Notification(
        kind="promotion-posted",
        episode_id=event.episode_id,
        title=f"Posted on {event.network}: {event.episode_id}",
        level="success",
        sections=(Section(text=f"Item {event.item_id} went out {how}: {event.post_uri}"),),
    )


def promotion_failed(event: PromotionFailed) -> Notification:
    return Notification(
        kind="promotion-failed",
        episode_id=event.episode_id,
        title=f"Post on {event.network} failed: {event.episode_id}",
        level="failure",
        sections=(
            Section(
                text=f"Item {event.item_id}: {failure_text(event.failure)}\nThe message is in "
                "the promote DLQ: fix the cause, then "
                f"`podpipe dlq replay --queue promote --episode {event.episode_id}`."
            ),
        ),
    )


# --------------------------------------------------------------------------- e-mail (SNS)


def email_subject(notification: Notification) -> str:
    """ASCII, one line, < 100 characters (SNS rejects anything else)."""
    raw = f"[podpipe] {notification.title}"
    ascii_text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    one_line = " ".join(ascii_text.split())
    printable = "".join(ch for ch in one_line if 32 <= ord(ch) < 127)
    if len(printable) > SUBJECT_MAX:
        printable = printable[: SUBJECT_MAX - 3].rstrip() + "..."
    return printable


def email_body(notification: Notification, *, max_bytes: int = SNS_BODY_MAX_BYTES) -> str:
    parts = [notification.title, "=" * min(len(notification.title), 72), ""]
    for section in notification.sections:
        if section.heading:
            parts += [section.heading, "-" * min(len(section.heading), 72)]
        parts.append(section.text)
        parts += [f"{link.label}: {link.url}" for link in section.links]
        parts.append("")
    if notification.episode_id:
        parts.append(f"episode: {notification.episode_id}")
    body = "\n".join(parts)
    return _fit_bytes(body, max_bytes, _full_text_links(notification))


def _full_text_links(notification: Notification) -> list[Link]:
    return [s.full_text for s in notification.sections if s.full_text]


def _fit_bytes(body: str, max_bytes: int, links: list[Link]) -> str:
    if len(body.encode()) <= max_bytes:
        return body
    tail = "\n\n[cut to fit the e-mail size limit]"
    tail += "".join(f"\n{link.label}: {link.url}" for link in links)
    budget = max_bytes - len(tail.encode()) - len(ELLIPSIS.encode())
    cut = body.encode()[:budget].decode("utf-8", "ignore")
    return cut + ELLIPSIS + tail


# --------------------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(link: Link) -> str:
    # Inside <url|label> the label must not contain '|' or '>' either.
    label = slack_escape(link.label).replace("|", "¦")
    return f"<{slack_escape(link.url)}|{label}>"


def _section_texts(section: Section, max_chars: int) -> list[str]:
    """One section as one or more mrkdwn texts: the (cut) text, then its links in chunks."""
    body, cut = truncate(section.text, max_chars)
    escaped = slack_escape(body)
    if section.preformatted:
        escaped = f"```{escaped.replace('```', '` ` `')}```"
    lines = [f"*{slack_escape(section.heading)}*"] if section.heading else []
    lines.append(escaped)
    if cut:
        more = section.full_text
        lines.append(f"{slack_link(more)} (cut here)" if more else "(cut here)")
    texts = ["\n".join(lines)]
    # Presigned URLs are long: spread many links over several blocks, each under the limit.
    for link in section.links:
        rendered = f"• {slack_link(link)}"
        if len(texts[-1]) + 1 + len(rendered) > SLACK_SECTION_MAX:
            texts.append(rendered)
        else:
            texts[-1] += "\n" + rendered
    return [
        t if len(t) <= SLACK_SECTION_MAX else t[: SLACK_SECTION_MAX - 1] + ELLIPSIS for t in texts
    ]


def slack_payload(
    notification: Notification, *, max_chars: int = DEFAULT_SLACK_SECTION_CHARS
) -> dict[str, Any]:
    """Block Kit payload for an incoming webhook (``text`` is the notification fallback)."""
    max_chars = min(max_chars, SLACK_SECTION_MAX - 400)  # room for heading and links
    header = truncate(f"{notification.title}", SLACK_HEADER_MAX)[0]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
    ]
    for section in notification.sections:
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}
            for text in _section_texts(section, max_chars)
        ]
    blocks = blocks[: SLACK_MAX_BLOCKS - 1]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{_ICON[notification.level]} podpipe · episode "
                    f"`{slack_escape(notification.episode_id)}`",
                }
            ],
        }
    )
    return {"text": slack_escape(notification.title), "blocks": blocks}
