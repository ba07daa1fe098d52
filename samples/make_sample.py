"""Regenerate the sample episode: a two-voice podcast conversation synthesized with espeak-ng.

    apt-get install -y espeak-ng          # only needed to regenerate, never at test time
    uv run python samples/make_sample.py  # writes episode.m4a, .txt, .json, .topics.json
    uv run python samples/make_sample.py --out /tmp/x  # the same, elsewhere (to measure)

Each turn is rendered with espeak-ng into a WAV, turns are joined with a short pause (a
realistic hand-over gap, which also gives Whisper's VAD and the subtitle splitter a pause
boundary), and the whole is encoded as mono AAC at a low bitrate with the ffmpeg binary of the
imageio-ffmpeg wheel so the file stays well under 1 MB.

``<name>.topics.json`` is the ground truth of the episode's topics for evaluating chapters and
grounding: where each topic's first turn starts in the audio (from the rendered turn lengths
and the gaps), a short title, and the names and numbers said in it. Other samples
(make_aws_news.py) reuse :func:`write_sample` with their own script.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import imageio_ffmpeg

HERE = Path(__file__).resolve().parent
HOST = "Maya Patel"
GUEST = "Tom Becker"
# Two clearly different voices: a British female variant for the host, a US male for the guest.
# Picked by measuring Whisper base's word error rate per voice and rate (words per minute):
# these two came out best (about 2-3 %) among the espeak-ng variants tried; mbrola voices are
# not packaged in Debian main.
VOICES = {HOST: ("en-gb+f3", 170), GUEST: ("en-us+m7", 165)}
TURN_GAP_SECONDS = 0.7
AAC_BITRATE = "32k"

SCRIPT: list[tuple[str, str]] = [
    (
        HOST,
        "Welcome to Small Steps, the show about practical ways to live a greener life. "
        "I'm Maya, and today my guest is Tom, an engineer who has spent many years "
        "installing heat pumps in old houses. Tom, thanks for joining me.",
    ),
    (GUEST, "Thanks for having me, Maya. It's a topic I could talk about all day."),
    (
        HOST,
        "Let's start with the basics. What is a heat pump, and why does everyone "
        "suddenly care about it?",
    ),
    (
        GUEST,
        "A heat pump is a machine that moves heat instead of making it. In winter it "
        "pulls warmth out of the outside air, even when the air feels cold, and pumps it "
        "into your home. In summer it runs backwards and works as an air conditioner. "
        "Because it moves heat rather than burning fuel, it can deliver several units of "
        "heat for every unit of electricity it uses.",
    ),
    (
        HOST,
        "Several times more heat than the energy you put in. That sounds almost too good "
        "to be true.",
    ),
    (
        GUEST,
        "People say that a lot. But your fridge does the same thing every day. It moves "
        "heat from inside the box out into the kitchen. A heat pump simply does it for the "
        "whole house.",
    ),
    (
        HOST,
        "The biggest worry I hear from listeners is the cold. Do heat pumps really work "
        "in a hard winter?",
    ),
    (
        GUEST,
        "Modern ones do. The newer models keep working well below freezing. The real "
        "problem is usually not the machine but the house. If your home leaks heat through "
        "old windows and a thin roof, any heating system will struggle. So my first advice "
        "is always the same: seal the drafts and add insulation before you buy anything.",
    ),
    (HOST, "So the boring work comes first."),
    (
        GUEST,
        "Exactly. Insulation is not exciting, but it makes every other choice cheaper. A "
        "smaller heat pump can do the job, and your bills drop right away.",
    ),
    (HOST, "Let's talk about money. What does all of this cost a normal family?"),
    (
        GUEST,
        "The upfront price is higher than a new gas boiler, that is true. But many regions "
        "offer grants or tax credits that cover a large part of it. Running costs depend "
        "on your electricity price. Where power is cheap, families save money every month. "
        "Where power is expensive, the savings are smaller, but the carbon savings are "
        "still large.",
    ),
    (HOST, "What mistakes do you see people make?"),
    (
        GUEST,
        "The most common one is choosing the wrong size. A unit that is too big switches "
        "on and off all the time, which wastes energy and wears it out. The second mistake "
        "is hiring an installer who has never done it before. Ask for references, and ask "
        "to see a job they finished last winter.",
    ),
    (HOST, "If a listener wants to start this week, what is the one thing they should do?"),
    (
        GUEST,
        "Get a home energy assessment. Someone walks through your house, finds the leaks, "
        "and tells you what to fix first. It is cheap, and it turns a big scary project "
        "into a simple list.",
    ),
    (HOST, "That is a great place to end. Tom, thank you so much for your time."),
    (GUEST, "Thank you, Maya. It was a pleasure."),
    (HOST, "And thanks to all of you for listening to Small Steps. See you next week."),
]

METADATA = {
    "title": "Heat Pumps Without the Hype",
    "show": "Small Steps",
    "episode_number": 1,
    "hosts": [HOST],
    "guests": [GUEST],
}


class Topic(NamedTuple):
    """A topic starts at the script turn ``turn`` (0-based); names and numbers said in it
    (numbers as digits, the way a transcript or a summary would write them)."""

    turn: int
    title: str
    names: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()


# This conversation states no figures: its topics have names only.
TOPICS: list[Topic] = [
    Topic(0, "Intro", ("Small Steps", "Maya", "Tom")),
    Topic(2, "What a heat pump is"),
    Topic(6, "Cold winters"),
    Topic(8, "Insulation first"),
    Topic(10, "Costs and grants"),
    Topic(12, "Common mistakes"),
    Topic(14, "A first step: an energy assessment"),
    Topic(16, "Outro", ("Tom", "Maya", "Small Steps")),
]


def speak(text: str, voice: str, rate: int) -> tuple[wave._wave_params, bytes]:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getparams(), reader.readframes(reader.getnframes())


class Rendering(NamedTuple):
    params: wave._wave_params
    frames: bytes
    turn_starts: list[float]  # seconds where each turn starts in the audio

    @property
    def seconds(self) -> float:
        return len(self.frames) / (
            self.params.framerate * self.params.sampwidth * self.params.nchannels
        )


def render(script: Sequence[tuple[str, str]], voices: Mapping[str, tuple[str, int]]) -> Rendering:
    """Every turn spoken in its speaker's voice, each followed by the hand-over gap."""
    params = None
    frames = bytearray()
    starts: list[float] = []
    for speaker, text in script:
        voice, rate = voices[speaker]
        turn_params, turn_frames = speak(text, voice, rate)
        params = params or turn_params
        starts.append(len(frames) / (params.framerate * params.sampwidth * params.nchannels))
        frames += turn_frames
        gap = int(params.framerate * TURN_GAP_SECONDS) * params.sampwidth * params.nchannels
        frames += b"\x00" * gap
    assert params is not None
    return Rendering(params, bytes(frames), starts)


def encode(rendering: Rendering, target: Path) -> None:
    """Mono AAC at AAC_BITRATE, index up front, no metadata (reproducible bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "episode.wav"
        with wave.open(str(wav_path), "wb") as writer:
            writer.setparams(rendering.params)
            writer.writeframes(rendering.frames)
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(wav_path),
                "-ac",
                "1",
                "-c:a",
                "aac",
                "-b:a",
                AAC_BITRATE,
                "-movflags",
                "+faststart",
                "-map_metadata",
                "-1",
                str(target),
            ],
            check=True,
        )


def topics_document(topics: Sequence[Topic], turn_starts: Sequence[float]) -> list[dict[str, Any]]:
    return [
        {
            "start": round(turn_starts[t.turn], 2),
            "title": t.title,
            "names": list(t.names),
            "numbers": list(t.numbers),
        }
        for t in topics
    ]


def write_sample(
    name: str,
    script: Sequence[tuple[str, str]],
    voices: Mapping[str, tuple[str, int]],
    metadata: Mapping[str, Any],
    topics: Sequence[Topic],
    out_dir: Path = HERE,
) -> Rendering:
    """``<name>.m4a``, ``.txt`` (the script, one turn a line), ``.json`` (EpisodeMetadata),
    ``.topics.json`` (the topics' ground truth) in ``out_dir``."""
    turns = [t.turn for t in topics]
    assert turns == sorted(set(turns)), f"topic turns must increase: {turns}"
    assert turns[0] == 0, "the first topic starts the episode"
    assert turns[-1] < len(script), f"topic turn {turns[-1]} is past the script"
    rendering = render(script, voices)
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = out_dir / f"{name}.m4a"
    encode(rendering, audio)
    (out_dir / f"{name}.txt").write_text("\n".join(text for _, text in script) + "\n")
    (out_dir / f"{name}.json").write_text(json.dumps(metadata, indent=2) + "\n")
    (out_dir / f"{name}.topics.json").write_text(
        json.dumps(topics_document(topics, rendering.turn_starts), indent=2) + "\n"
    )
    size = audio.stat().st_size
    print(f"{audio.name}: {rendering.seconds:.1f} s, {size} bytes", file=sys.stderr)
    return rendering


def parse_out_dir(argv: list[str] | None, description: str) -> Path:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=HERE, help="directory (default: samples/)")
    return Path(parser.parse_args(argv).out)


def main(argv: list[str] | None = None) -> int:
    out_dir = parse_out_dir(argv, "Regenerate the sample episode (samples/episode.*).")
    write_sample("episode", SCRIPT, VOICES, METADATA, TOPICS, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
