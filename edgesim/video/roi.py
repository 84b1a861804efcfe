"""Regions of interest (ROIs) per video frame, the way Distream's cameras find them.

Distream (§1.4) reads frames with OpenCV, runs Gaussian-mixture background subtraction
(history 500, threshold 60) and then blob detection; each blob is one ROI that the DAG of
classifiers processes. :func:`extract_rois` does the same, frame by frame:

1. ``cv2.createBackgroundSubtractorMOG2(history, varThreshold=threshold, detectShadows)``;
   ``apply`` with OpenCV's default learning rate (``1 / min(frames seen, history)``).
2. Clean the foreground mask: shadows (value 127) are thresholded away (only 255 stays
   foreground), then a morphological opening (removes speckle) and closing (fills holes) with an
   elliptic ``kernel x kernel`` structuring element.
3. Blob detection: 8-connected components of the mask; a component of at least ``min_area``
   foreground pixels is one ROI, its bounding box the crop. ``max_rois`` (off by default) keeps
   only the largest ones.
4. Each crop is encoded with ``cv2.imencode('.jpg', crop, quality)``: its size in bytes is what a
   camera would send to the edge for that ROI.

The first frames are the subtractor warming up: with its learning rate of ``1 / n`` at frame n,
people who stand still in the first frames become background and ghosts of the first frame
linger. They are kept in the output; the header's ``warmup_frames`` says how many to discard
(default ``round(0.3 * history)``, 150 frames at history 500: on vtest.avi, counts after it are
within a few per cent of those of a model primed on the whole clip).

OpenCV is imported inside the functions (``pip install "edgesim[video]"``).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

PathLike = Union[str, Path]

COLUMNS = ["frame", "time_s", "rois", "roi_bytes_mean"]
BOX_COLUMNS = ["frame", "x", "y", "w", "h", "area_px", "pixels", "jpeg_bytes"]


class VideoError(Exception):
    """A video that cannot be opened or read, or OpenCV missing."""


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise VideoError("OpenCV is not installed: pip install 'edgesim[video]' "
                         "(or opencv-python-headless)") from exc
    return cv2


def default_warmup(history: int) -> int:
    """Frames counted as the subtractor's warm-up by default: ``round(0.3 * history)``."""
    return max(1, int(round(0.3 * history)))


@dataclass(frozen=True)
class RoiParams:
    """Parameters of the ROI extractor (defaults: Distream §1.4 where it says, else ours)."""

    history: int = 500             # MOG2 history (Distream: 500)
    threshold: float = 60.0        # MOG2 varThreshold (Distream: 60)
    detect_shadows: bool = True    # mark shadows (127) and drop them from the mask
    min_area: int = 200            # smallest blob, in foreground pixels
    kernel: int = 3                # morphological open/close kernel (pixels); <= 1: none
    jpeg_quality: int = 90         # cv2.IMWRITE_JPEG_QUALITY for the ROI crops
    max_rois: Optional[int] = None  # keep only the largest N blobs per frame (None: all)
    warmup: Optional[int] = None   # warm-up frames recorded in the header (None: default)

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be at least 1")
        if self.threshold <= 0:
            raise ValueError("threshold must be positive")
        if self.min_area < 1:
            raise ValueError("min_area must be at least 1 pixel")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be within 0..100")
        if self.max_rois is not None and self.max_rois < 0:
            raise ValueError("max_rois must be non-negative")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError("warmup must be non-negative")

    @property
    def warmup_frames(self) -> int:
        return default_warmup(self.history) if self.warmup is None else self.warmup


@dataclass
class RoiTrace:
    """What :func:`extract_rois` found: one row per frame, one row per ROI, provenance."""

    frames: "object"               # pandas DataFrame with COLUMNS
    boxes: "object"                # pandas DataFrame with BOX_COLUMNS
    meta: dict = field(default_factory=dict)

    def stats(self, after_warmup: bool = True) -> dict:
        """Frames, mean/max/percentiles of ROIs per frame, mean bytes per ROI."""
        skip = int(self.meta.get("warmup_frames", 0)) if after_warmup else 0
        counts = self.frames["rois"].to_numpy()[skip:]
        boxes = self.boxes[self.boxes["frame"] >= skip]
        out = {"frames": int(len(counts)), "skipped_warmup_frames": min(skip, len(self.frames))}
        if len(counts):
            out.update(rois_mean=float(counts.mean()), rois_max=int(counts.max()),
                       rois_p50=float(np.percentile(counts, 50)),
                       rois_p99=float(np.percentile(counts, 99)),
                       zero_frames=float((counts == 0).mean()))
        out["roi_bytes_mean"] = float(boxes["jpeg_bytes"].mean()) if len(boxes) else 0.0
        out["roi_area_px_median"] = float(boxes["area_px"].median()) if len(boxes) else 0.0
        return out


def sha256(path: PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def foreground_mask(cv2, subtractor, frame, kernel) -> np.ndarray:
    """Steps 1-2: the subtractor's mask with shadows dropped, opened then closed."""
    mask = subtractor.apply(frame)
    _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)   # 127 = shadow -> 0
    if kernel is not None:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask


def blobs(cv2, mask: np.ndarray, min_area: int, max_rois: Optional[int]) -> np.ndarray:
    """Step 3: (x, y, w, h, pixels) of each 8-connected blob of at least ``min_area`` pixels."""
    _n, _labels, st, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    st = st[1:]                                                  # row 0 is the background
    st = st[st[:, cv2.CC_STAT_AREA] >= min_area]
    if max_rois is not None and len(st) > max_rois:
        st = st[np.argsort(-st[:, cv2.CC_STAT_AREA], kind="stable")[:max_rois]]
    return st


def extract_rois(video: PathLike, params: RoiParams = RoiParams(), *, fps: Optional[float] = None,
                 max_frames: Optional[int] = None,
                 progress: Optional[Callable[[int], None]] = None) -> RoiTrace:
    """Run the ROI extractor over ``video`` (see the module docstring for the steps).

    ``fps`` overrides the container's frame rate (``time_s = frame / fps``); ``max_frames``
    stops early. ``progress(frames_done)`` is called every 50 frames.
    """
    import pandas as pd

    cv2 = _cv2()
    video = Path(video)
    if not video.is_file():
        raise VideoError(f"{video}: no such file")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise VideoError(f"{video}: OpenCV cannot open it as a video")
    container_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    rate = float(fps) if fps else container_fps
    if not rate or rate <= 0 or not np.isfinite(rate):
        cap.release()
        raise VideoError(f"{video}: the container has no frame rate; pass --fps")
    subtractor = cv2.createBackgroundSubtractorMOG2(
        history=params.history, varThreshold=params.threshold, detectShadows=params.detect_shadows)
    kernel = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (params.kernel, params.kernel))
              if params.kernel > 1 else None)
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), int(params.jpeg_quality)]
    counts: list[int] = []
    byte_means: list[float] = []
    rows: list[tuple] = []
    size = (0, 0)
    try:
        while max_frames is None or len(counts) < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            i = len(counts)
            size = (frame.shape[1], frame.shape[0])
            found = blobs(cv2, foreground_mask(cv2, subtractor, frame, kernel),
                          params.min_area, params.max_rois)
            sizes = []
            for x, y, w, h, pixels in found.tolist():
                ok, buf = cv2.imencode(".jpg", frame[y:y + h, x:x + w], quality)
                if not ok:  # pragma: no cover - encoding a non-empty crop does not fail
                    raise VideoError(f"{video}: frame {i}: JPEG encoding failed")
                sizes.append(int(buf.size))
                rows.append((i, x, y, w, h, w * h, pixels, int(buf.size)))
            counts.append(len(found))
            byte_means.append(float(np.mean(sizes)) if sizes else 0.0)
            if progress is not None and len(counts) % 50 == 0:
                progress(len(counts))
        source_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if not counts:
        raise VideoError(f"{video}: no frame could be read")
    n = len(counts)
    # The container's count is exact for AVI/MP4 headers; one frame of slack for those that
    # count a trailing empty one. A cut file reads fine up to the cut, then simply stops.
    if max_frames is None and source_frames > 0 and n < source_frames - 1:
        raise VideoError(f"{video}: the container says {source_frames} frames but only {n} "
                         f"could be read: the file looks truncated (pass --max-frames {n} to "
                         "convert what is there)")
    frames = pd.DataFrame({
        "frame": np.arange(n, dtype=np.int64),
        "time_s": np.arange(n, dtype=float) / rate,
        "rois": np.asarray(counts, dtype=np.int64),
        "roi_bytes_mean": np.asarray(byte_means, dtype=float),
    })
    boxes = pd.DataFrame(rows, columns=BOX_COLUMNS).astype("int64")
    p = asdict(params)
    p["warmup"] = params.warmup_frames
    meta = {
        "kind": "derived: per-frame ROI counts extracted from a real video by edgesim",
        "source": str(video),
        "source_name": video.name,
        "source_sha256": sha256(video),
        "source_frames": source_frames,
        "source_size": f"{size[0]}x{size[1]}",
        "source_fps": container_fps,
        "fps": rate,
        "fps_from": "override" if fps else "container",
        "frames": n,
        "opencv": cv2.__version__,
        "extractor": ("MOG2 background subtraction -> drop shadows (mask>200) -> open/close "
                      "(ellipse kernel) -> 8-connected components >= min_area -> bounding-box "
                      "crops JPEG-encoded with cv2.imencode"),
        "params": " ".join(f"{k}={v}" for k, v in p.items()),
        "warmup_frames": min(params.warmup_frames, n),
        "warmup_s": min(params.warmup_frames, n) / rate,
        "warmup_note": ("the first warmup_frames rows (warmup_s seconds) are the subtractor "
                        "warming up; they are included: for steady state skip them, or give "
                        "the scenario a warmup of at least warmup_s"),
        "roi_bytes_mean_note": "mean JPEG bytes of the frame's ROIs; 0 when the frame has none",
    }
    return RoiTrace(frames, boxes, meta)


def write(trace: RoiTrace, path: PathLike, command: Optional[str] = None) -> Path:
    """Write the per-frame table as an edgesim ROI trace (provenance header + CSV)."""
    from edgesim.video import write_trace

    head = dict(trace.meta)
    s = trace.stats()
    head["stats_after_warmup"] = (f"frames={s['frames']} rois_mean={s.get('rois_mean', 0):.4f} "
                                  f"rois_max={s.get('rois_max', 0)} "
                                  f"roi_bytes_mean={s['roi_bytes_mean']:.1f} "
                                  f"roi_area_px_median={s['roi_area_px_median']:.0f}")
    if command:
        head["command"] = command
    head["columns"] = ("frame: index from 0; time_s: frame / fps; rois: ROIs in the frame; "
                       "roi_bytes_mean: mean JPEG size of its ROIs (bytes)")
    return write_trace(trace.frames, path, head,
                       float_format={"time_s": ".6g", "roi_bytes_mean": ".1f"})


def write_boxes(trace: RoiTrace, path: PathLike) -> Path:
    """One row per ROI: frame, bounding box, its area, foreground pixels, JPEG bytes."""
    from edgesim.video import write_trace

    head = {k: trace.meta[k] for k in ("kind", "source", "source_sha256", "opencv", "params")}
    return write_trace(trace.boxes, path, head)


def write_video(path: PathLike, frames, fps: float, codec: str = "MJPG") -> Path:
    """Write BGR uint8 frames (an iterable of HxWx3 arrays) as a video: for tests and demos."""
    cv2 = _cv2()
    path = Path(path)
    writer = None
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
                if not writer.isOpened():
                    raise VideoError(f"{path}: OpenCV cannot write {codec} video")
            writer.write(np.ascontiguousarray(frame, dtype=np.uint8))
    finally:
        if writer is not None:
            writer.release()
    return path
