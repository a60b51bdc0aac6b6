"""Image and detection metrics: PSNR, SSIM, box IoU, detection accuracy and AP50.

Used by the galaxy-LVM chapter (restoration and detection tasks of Fu et al. 2024). Images are
float arrays in a fixed range (``data_range``, 1 for the book's [0, 1] RGB mapping), shape (N, C, H, W).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def psnr(pred, ref, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio per image, 10 log10(range^2 / MSE), in dB; shape (N,)."""
    pred, ref = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(ref, dtype=torch.float64)
    if pred.shape != ref.shape or pred.ndim != 4:
        raise ValueError(f"psnr needs two (N, C, H, W) arrays of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(ref.shape)}")
    mse = ((pred - ref) ** 2).flatten(1).mean(1).clamp(min=1e-20)
    return (10 * torch.log10(data_range**2 / mse)).numpy()


def _gauss_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred, ref, data_range: float = 1.0, win: int = 7, sigma: float = 1.5) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) per image, mean over channels and valid pixels; shape (N,).

    Gaussian window ``win`` x ``win`` with ``sigma`` (1.5 as in the original paper, smaller window
    because stamps are small), K1 = 0.01, K2 = 0.03.
    """
    pred, ref = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(ref, dtype=torch.float64)
    if pred.shape != ref.shape or pred.ndim != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) arrays of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(ref.shape)}")
    C = pred.shape[1]
    w = _gauss_window(win, sigma).expand(C, 1, win, win).contiguous()

    def filt(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, w, groups=C)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = filt(pred), filt(ref)
    vx, vy, cxy = filt(pred * pred) - mx**2, filt(ref * ref) - my**2, filt(pred * ref) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).numpy()


# ----------------------------------------------------------------------------- detection
def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (n, 4) and b (m, 4), each (x0, y0, x1, y1)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ix0, iy0 = np.maximum(a[:, None, 0], b[None, :, 0]), np.maximum(a[:, None, 1], b[None, :, 1])
    ix1, iy1 = np.minimum(a[:, None, 2], b[None, :, 2]), np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _match(det: dict, boxes: np.ndarray, labels: np.ndarray, iou_thr: float, min_score: float = -np.inf):
    """Greedy matching by descending score; a detection is a true positive if it overlaps an unmatched
    true object of the same class with IoU >= iou_thr. Returns (scores, is_tp, labels) of detections."""
    keep = det["scores"] >= min_score
    order = np.argsort(-det["scores"][keep], kind="stable")
    db, ds, dl = det["boxes"][keep][order], det["scores"][keep][order], det["labels"][keep][order]
    iou = box_iou(db, boxes)
    used = np.zeros(len(boxes), bool)
    tp = np.zeros(len(db), bool)
    for i in range(len(db)):
        cand = np.where((~used) & (labels == dl[i]) & (iou[i] >= iou_thr))[0]
        if cand.size:
            j = cand[np.argmax(iou[i, cand])]
            used[j], tp[i] = True, True
    return ds, tp, dl


def detection_accuracy(dets: list[dict], boxes: list[np.ndarray], labels: list[np.ndarray],
                       iou_thr: float = 0.5, min_score: float = 0.3) -> dict:
    """The chapter's definition of detection "accuracy" (the paper's is not stated):

    a true object counts as correctly detected when a detection with score >= ``min_score`` overlaps it
    with IoU >= ``iou_thr`` and has its class; accuracy = TP / (TP + FN + FP), so both missed objects and
    spurious detections lower it. Also returns recall = TP / (TP + FN) and precision = TP / (TP + FP).
    """
    tp = fp = n_true = 0
    for d, b, lab in zip(dets, boxes, labels):
        _, is_tp, _ = _match(d, np.asarray(b, float).reshape(-1, 4), np.asarray(lab), iou_thr, min_score)
        tp += int(is_tp.sum())
        fp += int((~is_tp).sum())
        n_true += len(lab)
    fn = n_true - tp
    return {"accuracy": tp / max(tp + fn + fp, 1), "recall": tp / max(n_true, 1), "precision": tp / max(tp + fp, 1),
            "tp": tp, "fp": fp, "fn": fn}


def average_precision(dets: list[dict], boxes: list[np.ndarray], labels: list[np.ndarray], num_classes: int,
                      iou_thr: float = 0.5) -> dict:
    """AP at IoU ``iou_thr`` per class (all-point interpolated area under precision-recall, as in
    PASCAL VOC 2010+ / COCO AP50) and their mean ``mAP``."""
    per = {c: ([], [], 0) for c in range(num_classes)}
    for d, b, lab in zip(dets, boxes, labels):
        lab = np.asarray(lab)
        s, tp, dl = _match(d, np.asarray(b, float).reshape(-1, 4), lab, iou_thr)
        for c in range(num_classes):
            sc, t, n = per[c]
            per[c] = (sc + list(s[dl == c]), t + list(tp[dl == c]), n + int((lab == c).sum()))
    aps = {}
    for c, (sc, t, n) in per.items():
        if n == 0:
            continue
        order = np.argsort(-np.asarray(sc), kind="stable")
        t = np.asarray(t, float)[order]
        ctp, cfp = np.cumsum(t), np.cumsum(1 - t)
        rec = ctp / n
        prec = ctp / np.maximum(ctp + cfp, 1e-12)
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[1.0], prec, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        i = np.where(mrec[1:] != mrec[:-1])[0]
        aps[c] = float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    return {"per_class": aps, "mAP": float(np.mean(list(aps.values()))) if aps else float("nan")}
