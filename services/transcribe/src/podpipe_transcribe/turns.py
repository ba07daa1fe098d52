"""Speaker turns for a backend that cannot tell voices apart (Whisper): who speaks each segment.

Two pure steps, numpy only, no model:

1. :func:`voice_prints` — per segment, where the audio is at hand (the Whisper backend):
   over its voiced frames, the mean cepstrum (MFCC 1-19: the shape of the voice's average
   spectrum — vocal tract, brightness) and the median pitch (F0 by autocorrelation). Once
   averaged over a second or more of speech, both stay with a speaker whatever they say.
   Pitch alone is not enough (the sample episode's two synthesized voices both sit near
   105 Hz yet sound plainly different), nor is the cepstrum alone (two voices an octave
   apart with the same timbre differ in it only a little).
2. :func:`speaker_turns` — once the episode metadata says how many people talk (it is read
   late, in the core): weighted k-means of the prints in their top principal components,
   from a deterministic start. The result is used only when it is confident — every pair of
   voices far apart relative to how much each voice varies, a high silhouette, every voice
   with a fair share of the speech, enough segments to judge — otherwise None, and the
   caller keeps one joint label: a wrong name on a line is worse than an honest
   "Maya Patel & Tom Becker". Voices are numbered in order of first appearance.

Only segments with at least a second of voiced speech shape the clusters (shorter ones are
noisy); shorter ones with some voiced speech join the nearest voice, and those with none take
the voice of the segment before them (a speaker usually keeps talking).

Thresholds, from measurements: two voices score a separation of 14.6 (the sample episode)
and ≥ 11.6 (synthetic voices an octave apart, 25 conversations of 20 and 40 segments); one
voice split in two scores ≤ 5.8 (synthetic, same 25 x 2) and ≤ 4.5 (the sample's host or
guest alone).

Cost: one 1024-point FFT per 20 ms of segment audio, a mel projection and an inverse FFT,
vectorised: 0.1-0.3 s (about 0.35 s of CPU) for the three-minute sample on a shared 2-core
machine, under 1 % of Whisper's own time (bench/transcribe.py measures it); clustering
takes milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
FRAME_SECONDS = 0.032
HOP_SECONDS = 0.020
FFT_SIZE = 1024  # ≥ frame + the longest pitch lag: no circular wrap-around in the lags read
MIN_F0_HZ, MAX_F0_HZ = 70.0, 400.0
PERIODIC = 0.5  # normalised autocorrelation peak of a frame whose pitch counts
OCTAVE_TOLERANCE = 0.9  # the shortest lag within 90 % of the best: the period, not two
PITCH_WEIGHT = 2.0  # one semitone of median pitch counts as much as 2 cepstral units
MEL_BANDS = 40
CEPSTRA = 19  # c1..c19: c0 is loudness, which says how close the microphone was, not who
LOW_HZ, HIGH_HZ = 80.0, 7600.0
QUIET_BELOW = 0.1  # frames quieter than this fraction of the segment's loud (90th pct) frames
VOICED_ZCR = 0.15  # zero crossings per sample below which a loud frame is voiced (vowels)
MIN_VOICED_SECONDS = 0.2  # less: the segment cannot be measured at all
FIT_VOICED_SECONDS = 1.0  # at least this much shapes the clusters

# Confidence: all must hold, else no labels.
MIN_SEPARATION = 7.0  # two voices' centres apart / their pooled spread along that line
MIN_SILHOUETTE = 0.6
MIN_SHARE = 0.4  # each voice holds ≥ 40 % of an even share (1/k) of the voiced speech
MIN_FIT_SEGMENTS_PER_VOICE = 4
MAX_VOICES = 6
SILHOUETTE_POINTS = 800  # a long episode's silhouette is judged on an even subsample (memory)

Samples = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class VoicePrint:
    """One segment's voice: mean cepstrum, median pitch, and how much voiced speech it held."""

    cepstrum: tuple[float, ...]
    pitch: float  # median F0 in semitones above 1 Hz
    voiced_seconds: float

    def vector(self) -> tuple[float, ...]:
        return (*self.cepstrum, PITCH_WEIGHT * self.pitch)


def _mel(hz: FloatArray) -> FloatArray:
    return np.asarray(2595.0 * np.log10(1.0 + hz / 700.0), dtype=np.float64)


@cache
def _mel_cepstrum_matrix(sample_rate: int) -> FloatArray:
    """Power spectrum → mel band energies is a triangle filterbank; log; then a DCT. The
    filterbank and DCT are fixed, so the per-frame work is one FFT, one log, two products."""
    freqs = np.fft.rfftfreq(FFT_SIZE, 1.0 / sample_rate)
    edges_mel = np.linspace(_mel(np.array(LOW_HZ)), _mel(np.array(HIGH_HZ)), MEL_BANDS + 2)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bank = np.zeros((MEL_BANDS, len(freqs)))
    for band in range(MEL_BANDS):
        low, centre, high = edges[band : band + 3]
        rising = (freqs - low) / (centre - low)
        falling = (high - freqs) / (high - centre)
        bank[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank.T.copy()


@cache
def _dct_matrix() -> FloatArray:
    index = np.arange(MEL_BANDS) + 0.5
    orders = np.arange(1, CEPSTRA + 1)
    return np.asarray(
        np.cos(np.pi / MEL_BANDS * index[:, None] * orders[None, :]), dtype=np.float64
    )


def voice_prints(
    samples: Samples, spans: Sequence[tuple[float, float]], sample_rate: int = SAMPLE_RATE
) -> list[VoicePrint | None]:
    """Each (start, end) span's voice print, or None where it holds too little voiced speech."""
    frame = round(FRAME_SECONDS * sample_rate)
    hop = round(HOP_SECONDS * sample_rate)
    window = np.hamming(frame)
    bank = _mel_cepstrum_matrix(sample_rate)
    dct = _dct_matrix()
    min_lag = int(sample_rate / MAX_F0_HZ)
    max_lag = int(np.ceil(sample_rate / MIN_F0_HZ))
    # The window's own autocorrelation: dividing by it undoes the taper's decay with lag.
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(window, FFT_SIZE)) ** 2)[: max_lag + 1]
    window_acf /= window_acf[0]
    prints: list[VoicePrint | None] = []
    for start, end in spans:
        chunk = samples[max(int(start * sample_rate), 0) : max(int(end * sample_rate), 0)]
        count = 1 + (len(chunk) - frame) // hop
        if count < MIN_VOICED_SECONDS / HOP_SECONDS:
            prints.append(None)
            continue
        index = np.arange(frame)[None, :] + hop * np.arange(count)[:, None]
        frames = np.asarray(chunk[index], dtype=np.float64)
        frames -= frames.mean(axis=1, keepdims=True)
        loudness = np.sqrt((frames**2).mean(axis=1))
        crossings = (np.diff(np.signbit(frames), axis=1) != 0).mean(axis=1)
        voiced = (loudness >= QUIET_BELOW * np.percentile(loudness, 90) + 1e-9) & (
            crossings < VOICED_ZCR
        )
        voiced_seconds = float(voiced.sum()) * HOP_SECONDS
        if voiced_seconds < MIN_VOICED_SECONDS:
            prints.append(None)
            continue
        power = np.abs(np.fft.rfft(frames[voiced] * window, FFT_SIZE)) ** 2
        cepstra = np.log(power @ bank + 1e-10) @ dct
        acf = np.fft.irfft(power, FFT_SIZE)[:, : max_lag + 1]
        acf = acf / (acf[:, :1] + 1e-12) / window_acf
        lags = acf[:, min_lag:]
        best = lags.max(axis=1)
        periodic = best >= PERIODIC
        if not periodic.any():
            prints.append(None)
            continue
        # A periodic signal correlates as well at two periods as at one: take the shortest.
        period = min_lag + (lags[periodic] >= OCTAVE_TOLERANCE * best[periodic, None]).argmax(1)
        pitch = float(np.median(12.0 * np.log2(sample_rate / period)))
        prints.append(
            VoicePrint(tuple(float(c) for c in cepstra.mean(axis=0)), pitch, voiced_seconds)
        )
    return prints


@dataclass(frozen=True)
class Turns:
    """Each segment's voice (0 = the first heard) and how confident the clustering was."""

    voices: tuple[int, ...]
    separation: float
    silhouette: float
    shares: tuple[float, ...]


@dataclass(frozen=True)
class _Fit:
    assign: IntArray
    centres: FloatArray
    separation: float
    silhouette: float
    shares: FloatArray


def _kmeans(points: FloatArray, weights: FloatArray, k: int) -> IntArray:
    """Weighted Lloyd iterations from a deterministic start (centres at weighted quantiles of
    the first principal component): the same audio always gets the same labels."""
    order = np.argsort(points[:, 0], kind="stable")
    cumulative = np.cumsum(weights[order]) / weights.sum()
    picks = np.minimum(np.searchsorted(cumulative, (np.arange(k) + 0.5) / k), len(order) - 1)
    centres = points[order[picks]].copy()
    assign = np.full(len(points), -1, dtype=np.intp)
    for _ in range(100):
        distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new = distances.argmin(axis=1).astype(np.intp)
        if np.array_equal(new, assign):
            break
        assign = new
        for c in range(k):
            member = assign == c
            if member.any():
                centres[c] = np.average(points[member], axis=0, weights=weights[member])
    return assign


def _silhouette(points: FloatArray, weights: FloatArray, assign: IntArray, k: int) -> float:
    if len(points) > SILHOUETTE_POINTS:  # the distance matrix grows with the square
        keep = np.linspace(0, len(points) - 1, SILHOUETTE_POINTS).astype(np.intp)
        points, weights, assign = points[keep], weights[keep], assign[keep]
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    scores = np.zeros(len(points))
    for i in range(len(points)):
        mean_to = np.full(k, np.inf)
        for c in range(k):
            member = assign == c
            member[i] = False
            if member.any():
                mean_to[c] = np.average(distances[i, member], weights=weights[member])
        own = mean_to[assign[i]]
        if np.isfinite(own):  # alone in its cluster: 0 by convention
            other = np.delete(mean_to, assign[i]).min()
            scores[i] = (other - own) / max(own, other, 1e-12)
    return float(np.average(scores, weights=weights))


def _separation(points: FloatArray, weights: FloatArray, assign: IntArray, k: int) -> float:
    """The least separated pair of voices: distance between their centres over the pooled
    spread of their segments along the line joining them (a unimodal cloud split in two
    scores about 2.7; a few noisy points up to about 6)."""
    worst = np.inf
    for a in range(k):
        for b in range(a + 1, k):
            pair = (assign == a) | (assign == b)
            centre_a = np.average(points[assign == a], axis=0, weights=weights[assign == a])
            centre_b = np.average(points[assign == b], axis=0, weights=weights[assign == b])
            gap = float(np.linalg.norm(centre_b - centre_a))
            unit = (centre_b - centre_a) / max(gap, 1e-12)
            along = points[pair] @ unit
            own = np.where(assign[pair] == a, centre_a @ unit, centre_b @ unit)
            spread = np.sqrt(np.average((along - own) ** 2, weights=weights[pair]))
            worst = min(worst, gap / max(float(spread), 1e-12))
    return float(worst)


def _fit(points: FloatArray, weights: FloatArray, k: int) -> _Fit:
    assign = _kmeans(points, weights, k)
    shares = np.array([weights[assign == c].sum() for c in range(k)]) / weights.sum()
    if shares.min() == 0:
        return _Fit(assign, points[:k], 0.0, 0.0, shares)
    centres = np.array(
        [np.average(points[assign == c], axis=0, weights=weights[assign == c]) for c in range(k)]
    )
    return _Fit(
        assign,
        centres,
        _separation(points, weights, assign, k),
        _silhouette(points, weights, assign, k),
        shares,
    )


def speaker_turns(prints: Sequence[VoicePrint | None], k: int) -> Turns | None:
    """The segments' voices among k speakers, or None unless the clustering is confident."""
    k = min(k, MAX_VOICES)
    if k < 2:
        return None
    fitted = [
        i for i, p in enumerate(prints) if p is not None and p.voiced_seconds >= FIT_VOICED_SECONDS
    ]
    if len(fitted) < MIN_FIT_SEGMENTS_PER_VOICE * k:
        return None
    cepstra = np.array([prints[i].vector() for i in fitted])  # type: ignore[union-attr]
    weights = np.array([prints[i].voiced_seconds for i in fitted])  # type: ignore[union-attr]
    # The top principal components: where voices differ most; the rest is mostly what was said.
    mean = np.average(cepstra, axis=0, weights=weights)
    _, _, axes = np.linalg.svd((cepstra - mean) * np.sqrt(weights)[:, None], full_matrices=False)
    basis = axes[: max(2, k)].T
    fit = _fit((cepstra - mean) @ basis, weights, k)
    if (
        fit.shares.min() < MIN_SHARE / k
        or fit.separation < MIN_SEPARATION
        or fit.silhouette < MIN_SILHOUETTE
    ):
        return None
    voice_of: dict[int, int] = {i: int(c) for i, c in zip(fitted, fit.assign, strict=True)}
    for i, p in enumerate(prints):
        if p is not None and i not in voice_of:
            point = (np.array(p.vector()) - mean) @ basis
            voice_of[i] = int(((fit.centres - point) ** 2).sum(axis=1).argmin())
    # Unmeasured segments continue the voice before them (after them, at the very start).
    first = voice_of[min(voice_of)]
    raw: list[int] = []
    for i in range(len(prints)):
        raw.append(voice_of.get(i, raw[-1] if raw else first))
    order = list(dict.fromkeys(raw))  # first appearance
    order += [c for c in range(k) if c not in order]
    return Turns(
        voices=tuple(order.index(c) for c in raw),
        separation=round(fit.separation, 2),
        silhouette=round(fit.silhouette, 3),
        shares=tuple(round(float(fit.shares[c]), 3) for c in order),
    )
