"""Real videos: bounded decoding with OpenCV, WebM (VP8) for the browser, an ImageNet timeline.

Uploaded bytes go to a temporary file (OpenCV's FFmpeg reader wants a path), removed right after.
Length, resolution and frame count are bounded before any frame is kept; frames are sampled evenly
over the whole video. Browsers play H.264 and VP8/VP9 but not MPEG-4 part 2 (`mp4v`), and OpenCV's
wheels cannot write H.264, so anything else is transcoded to WebM (VP8, fourcc 'VP80': 7x faster
to encode here than VP9's 'VP90').

The per-frame ImageNet timeline is the chapter's first way (classify every frame, majority vote)
with a real classifier, EfficientNet-Lite0 (Tan & Le, ICML 2019): uploaded videos are not in the
generated clip classes, so the six trained ways can only say which clip class a video resembles.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import pathlib
import tempfile
import time

import cv2
import numpy as np

from engine.core.errors import InvalidInput, InvalidMedia
from engine.data import clips

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # as media.MAX_UPLOAD_BYTES and the server's upload limit
MAX_SECONDS = 60.0  # longest video we decode
MAX_FRAMES = 3600  # most frames we read through (60 s at 60 fps)
MAX_SIDE = 1920  # longest frame side accepted (1080p); 4K is refused
MAX_SAMPLES = 64  # most frames kept for analysis
DEFAULT_SAMPLES = 16  # frames sampled for the timeline (and the clip models: clips.FRAMES)
PLAYBACK_SIDE = 360  # longest side of the transcoded WebM
PLAYBACK_FPS = 15.0  # at most this many frames per second in it (encoding is the slow part)
# VP8, not VP9: OpenCV's libvpx VP9 wrote 12 frames/s of 360 x 202 here against VP8's 84, and browsers
# play both; a 60 s upload took 156 s to transcode in VP9. ('VP90' works too; 'avc1' does not.)
WEBM_CODEC = "VP80"
SUFFIXES = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v")
BROWSER_READY = {".webm": ("VP80", "VP90", "vp08", "vp09"), ".mp4": ("avc1", "h264", "H264", "AVC1")}


@dataclasses.dataclass(frozen=True)
class Video:
    frames: np.ndarray  # uint8 (N, height, width, 3) RGB, sampled evenly over the whole video
    indices: tuple[int, ...]  # frame number of each sampled frame
    frame_count: int  # frames in the video
    fps: float
    width: int
    height: int
    codec: str  # FourCC as OpenCV reports it

    @property
    def seconds(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    @property
    def times(self) -> tuple[float, ...]:
        """Second of each sampled frame."""
        return tuple(index / self.fps if self.fps > 0 else 0.0 for index in self.indices)


@dataclasses.dataclass(frozen=True)
class FrameLabel:
    index: int  # frame number in the video
    second: float
    label: str  # ImageNet class, top-1
    score: float


@dataclasses.dataclass(frozen=True)
class Timeline:
    frames: tuple[FrameLabel, ...]
    majority: str  # the most frequent top-1 label (ties: larger summed score)
    majority_share: float  # fraction of frames that voted for it
    model: str
    ms_per_frame: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "majority": self.majority,
            "majority_share": round(self.majority_share, 4),
            "ms_per_frame": round(self.ms_per_frame, 2),
            "frames": [
                {
                    "index": item.index,
                    "second": round(item.second, 3),
                    "label": item.label,
                    "score": round(item.score, 4),
                }
                for item in self.frames
            ],
        }


def describe_limits() -> str:
    return (
        f"MP4, WebM, AVI or MOV; up to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB, {MAX_SECONDS:.0f} seconds, "
        f"{MAX_FRAMES} frames and {MAX_SIDE} pixels on the long side."
    )


def _suffix(filename: str) -> str:
    suffix = pathlib.Path(filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidMedia(
            f"'{pathlib.Path(filename or '').name or 'the file'}' is not a video this page reads. "
            f"Upload {describe_limits()}"
        )
    return suffix


@contextlib.contextmanager
def _temporary(data: bytes, suffix: str):
    """The bytes in a temporary file that is removed on exit, whatever happens."""
    handle, name = tempfile.mkstemp(suffix=suffix, prefix="convnet-video-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        yield name
    finally:
        pathlib.Path(name).unlink(missing_ok=True)


def _open(path: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise InvalidMedia(
            f"This file could not be opened as a video (damaged, or not a video). Upload {describe_limits()}"
        )
    return capture


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> shift) & 0xFF) for shift in (0, 8, 16, 24))
    return "".join(character for character in text if character.isalnum()) or "?"  # from the file: no markup


def _count_frames(path: str) -> int:
    """Frames really in the file (the container's count can be missing or wrong), stopping past MAX_FRAMES."""
    capture = _open(path)
    try:
        count = 0
        while count <= MAX_FRAMES and capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def even_indices(frame_count: int, samples: int) -> np.ndarray:
    """`samples` frame numbers spread evenly over 0..frame_count-1 (centres of equal runs)."""
    samples = min(samples, frame_count)
    return np.floor((np.arange(samples) + 0.5) * frame_count / samples).astype(int)


def decode(data: bytes, filename: str, samples: int = DEFAULT_SAMPLES) -> Video:
    """Check and decode an uploaded video, keeping `samples` frames spread evenly over it.

    Raises:
        InvalidInput: samples out of 1..MAX_SAMPLES.
        InvalidMedia: wrong type, empty, too large, damaged, no frames, too long or too big a frame.
    """
    if not 1 <= samples <= MAX_SAMPLES:
        raise InvalidInput(f"Sample between 1 and {MAX_SAMPLES} frames, not {samples}.")
    suffix = _suffix(filename)
    if not data:
        raise InvalidMedia("The video file is empty. Upload " + describe_limits())
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidMedia(
            f"The video is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Upload a shorter "
            "or smaller one."
        )
    with _temporary(data, suffix) as path:
        capture = _open(path)
        try:
            width, height = (
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            codec = _fourcc(capture)
        finally:
            capture.release()
        if max(width, height) > MAX_SIDE:
            raise InvalidMedia(
                f"The video is {width} x {height} pixels; the limit is {MAX_SIDE} on the long side. "
                "Upload a smaller version (e.g. 720p)."
            )
        fps = fps if 0 < fps <= 240 else 25.0  # a missing or absurd rate: assume 25
        frame_count = _count_frames(path)
        if frame_count == 0:
            raise InvalidMedia(
                "No frame could be decoded from this video (empty or damaged). Upload " + describe_limits()
            )
        if frame_count == 1:  # FFmpeg opens a still picture (a JPEG renamed .mov) as a one-frame video
            raise InvalidMedia(
                "This file holds a single picture, not a video. Upload "
                + describe_limits()
                + " Pictures go to the classification or detection page."
            )
        if frame_count > MAX_FRAMES or frame_count / fps > MAX_SECONDS:
            raise InvalidMedia(
                f"The video is longer than the limit ({MAX_SECONDS:.0f} seconds, {MAX_FRAMES} "
                "frames). Trim it and upload again."
            )
        wanted = even_indices(frame_count, samples)
        frames, kept = [], []
        capture = _open(path)
        try:
            position, wanted_set = 0, set(wanted.tolist())
            while position <= wanted[-1] and capture.grab():
                if position in wanted_set:
                    ok, frame = capture.retrieve()
                    if ok and frame is not None and frame.ndim == 3:
                        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                        kept.append(position)
                position += 1
        finally:
            capture.release()
    if not frames:
        raise InvalidMedia("No frame could be decoded from this video (damaged). Upload " + describe_limits())
    return Video(
        np.stack(frames), tuple(kept), frame_count, fps, frames[0].shape[1], frames[0].shape[0], codec
    )


def to_clip(video: Video) -> np.ndarray:
    """The video as a generated-clip-sized input: FRAMES frames, centre square, SIZE x SIZE, uint8."""
    picks = video.frames[even_indices(len(video.frames), clips.FRAMES)]
    if len(picks) < clips.FRAMES:  # a very short video: repeat frames in order
        picks = picks[np.floor(np.arange(clips.FRAMES) * len(picks) / clips.FRAMES).astype(int)]
    height, width = picks.shape[1:3]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    size = clips.SIZE
    return np.stack(
        [
            cv2.resize(
                frame[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA
            )
            for frame in picks
        ]
    )


class _WebmWriter:
    """Frames in, WebM bytes out, through a temporary file removed on close."""

    def __init__(self, width: int, height: int, fps: float):
        handle, self.name = tempfile.mkstemp(suffix=".webm", prefix="convnet-video-")
        os.close(handle)
        self.writer = cv2.VideoWriter(
            self.name, cv2.VideoWriter_fourcc(*WEBM_CODEC), float(fps), (width, height)
        )
        if not self.writer.isOpened():
            pathlib.Path(self.name).unlink(missing_ok=True)
            raise InvalidMedia(
                "This OpenCV build cannot write WebM; the video cannot be shown in the browser."
            )
        self.count = 0

    def write_rgb(self, frame: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.count += 1

    def write_bgr(self, frame: np.ndarray) -> None:
        self.writer.write(frame)
        self.count += 1

    def finish(self) -> bytes:
        try:
            self.writer.release()
            return pathlib.Path(self.name).read_bytes()
        finally:
            pathlib.Path(self.name).unlink(missing_ok=True)

    def abandon(self) -> None:
        self.writer.release()
        pathlib.Path(self.name).unlink(missing_ok=True)


def write_webm(frames: np.ndarray, fps: float) -> bytes:
    """uint8 RGB frames (N, height, width, 3) -> WebM bytes (VP8) that browsers play."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise InvalidInput("Expected RGB frames (N, height, width, 3).")
    writer = _WebmWriter(frames.shape[2], frames.shape[1], fps)
    for frame in frames:
        writer.write_rgb(frame)
    return writer.finish()


def browser_playable(data: bytes, filename: str) -> tuple[bytes, str]:
    """Bytes a browser can play and their MIME type: the upload itself when it already is H.264 MP4 or
    VP8/VP9 WebM, else a VP8 WebM transcode: at most PLAYBACK_SIDE px, PLAYBACK_FPS frames per second
    and MAX_SECONDS long, written frame by frame (never the whole video in memory).

    Raises:
        InvalidMedia: the file cannot be opened or has no frame.
    """
    suffix = _suffix(filename)
    with _temporary(data, suffix) as path:
        capture = _open(path)
        writer = None
        try:
            codec = _fourcc(capture)
            if codec in BROWSER_READY.get(suffix, ()):
                return data, "video/webm" if suffix == ".webm" else "video/mp4"
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            fps = fps if 0 < fps <= 240 else 25.0
            step = max(1, round(fps / PLAYBACK_FPS))  # keep every step-th frame
            for position in range(min(MAX_FRAMES, int(MAX_SECONDS * fps))):
                if position % step:
                    if not capture.grab():
                        break
                    continue
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                scale = min(1.0, PLAYBACK_SIDE / max(frame.shape[:2]))
                width = max(2, int(frame.shape[1] * scale) // 2 * 2)  # even sides: the encoder wants them
                height = max(2, int(frame.shape[0] * scale) // 2 * 2)
                if writer is None:
                    writer = _WebmWriter(width, height, fps / step)
                writer.write_bgr(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
        finally:
            capture.release()
    if writer is None:
        raise InvalidMedia("No frame could be decoded from this video (damaged). Upload " + describe_limits())
    return writer.finish(), "video/webm"


def imagenet_timeline(video: Video, loaded) -> Timeline:
    """Top-1 ImageNet class of every sampled frame and the majority label (the chapter's way 1 on
    real classes). `loaded` is a classification model from `registry.load`, e.g. EfficientNet-Lite0."""
    from engine.classification import classify as classification

    started = time.perf_counter()
    labels = []
    for index, second, frame in zip(video.indices, video.times, video.frames):
        best = classification.classify(frame, loaded, top_k=1).top[0]
        labels.append(FrameLabel(index, second, best.label, best.score))
    ms_per_frame = (time.perf_counter() - started) * 1000 / max(1, len(labels))
    votes = collections.Counter(item.label for item in labels)
    totals = collections.defaultdict(float)
    for item in labels:
        totals[item.label] += item.score
    majority = max(votes, key=lambda label: (votes[label], totals[label]))
    return Timeline(tuple(labels), majority, votes[majority] / len(labels), loaded.spec.name, ms_per_frame)
