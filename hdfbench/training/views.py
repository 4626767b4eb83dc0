"""The multi-view test protocol of DFER papers: a video's logits averaged over temporal clips × spatial crops.

``evaluation.temporal_views`` = k samples each TSN segment at (j + ½) / k for j < k (one view: the segment
centres), ``evaluation.spatial_views`` = m crops along the frame's diagonal (one view: the whole frame;
``transforms.view_boxes``). The logits of the k·m passes are averaged per clip; one view of each is the
single pass of every release, bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from hdfbench.config import EvaluationSpec
from hdfbench.data.clips import ClipArray
from hdfbench.data.loader import to_float_clips
from hdfbench.data.transforms import crop_view, view_boxes
from hdfbench.strategies import Strategy


@torch.no_grad()
def predict_logits(
    strategy: Strategy,
    clips: ClipArray | np.ndarray,
    batch_size: int,
    device: torch.device,
    crop: tuple[int, int, float] | None = None,
) -> np.ndarray:
    """Return the logits (N, C) of ``strategy`` for uint8 clips (N, T, H, W, 3) (an array or a clip array),
    each first cut to crop j of ``crop`` = (j, spatial views, crop area) and resized back (None: the whole
    frame; ``transforms.view_boxes`` places the crops on the frames' side)."""
    out = []
    for i in range(0, len(clips), batch_size):
        batch = torch.as_tensor(clips[i : i + batch_size]).to(device)
        if crop is not None:
            j, views, area = crop
            batch = crop_view(batch, view_boxes(batch.shape[2], views, area)[j])
        out.append(strategy.predict(to_float_clips(batch)).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, strategy.task.num_classes), dtype=np.float32)


def predict_views(
    strategy: Strategy,
    clips: ClipArray,
    batch_size: int,
    device: torch.device,
    views: EvaluationSpec,
) -> np.ndarray:
    """Return the logits (N, C) of ``strategy`` averaged over the temporal × spatial ``views`` of ``clips``."""
    if views.views == 1:
        return predict_logits(strategy, clips, batch_size, device)
    total = None
    for j in range(views.temporal_views):
        view = clips.temporal_view(j, views.temporal_views)
        for k in range(views.spatial_views):
            crop = (k, views.spatial_views, views.crop_area)
            logits = predict_logits(strategy, view, batch_size, device, crop).astype(np.float64)
            total = logits if total is None else total + logits
    assert total is not None
    return (total / views.views).astype(np.float32)
