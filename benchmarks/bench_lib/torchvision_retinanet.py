"""The reference trainer: torchvision's `RetinaNet` on a COCO JSON dataset (issue 13).

Runs in the optional torch environment (`make venv-torch`; never a dependency of the
package), as a subprocess of `benchmarks/finetune_real.py`, with the settings of our
`custom` recipe run:

* backbone: torchvision's MobileNetV2 from the same ImageNet file our run loads
  (`mobilenet_v2-b0353104.pth`), every BatchNorm frozen (`FrozenBatchNorm2d`, torchvision's
  and detectron2's way of fine-tuning), every conv trainable; features tapped where ours
  taps them (block 6's and block 13's expansion ReLU6: 192 and 576 channels at strides 8
  and 16; the last 1x1 conv: 1280 channels at stride 32);
* a standard FPN (`torchvision.ops.FeaturePyramidNetwork`) of `--fpn-channels` with P6 from
  C5 and P7 from ReLU(P6), and torchvision's RetinaNet head (4 plain 3x3 convs of the FPN
  width per subnet, no normalisation, prior 0.01): ours is FPN-Lite (depthwise-separable
  convs with BatchNorm and ReLU6), so the architectures differ there;
* anchors `--anchor-sizes` on P3-P7 with scales 2^0, 2^(1/3), 2^(2/3) and ratios 1:2, 1:1,
  2:1; IoU >= 0.5 foreground, < 0.4 background, low-quality matches kept; focal loss
  alpha 0.25, gamma 2; torchvision's L1 box loss on (1, 1, 1, 1)-weighted box deltas (ours:
  smooth L1 on (10, 10, 5, 5));
* images resized to `--image-size` (torchvision's transform: ImageNet mean / std);
  horizontal flip with probability 0.5; batches of `--batch-size` drawn from a seeded
  shuffle, epoch after epoch;
* SGD momentum 0.9, weight decay 1e-4, `--learning-rate`, linear warmup from a third of it
  over `--warmup-steps`, x0.1 at each of `--step-boundaries`.

Writes `--out` (JSON): COCO detections of the evaluation images (original pixels,
`[x, y, w, h]`, category id of the annotation file's first category), seconds of every
step, loss every step, versions. Scoring is left to the caller (pycocotools in the main
environment), so both contenders are scored by the same code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

ANCHOR_SCALES = (1.0, 2.0 ** (1.0 / 3.0), 2.0 ** (2.0 / 3.0))
ANCHOR_RATIOS = (0.5, 1.0, 2.0)
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
WARMUP_START_FACTOR = 1.0 / 3.0
STEP_FACTOR = 0.1
FLIP_PROBABILITY = 0.5
# MobileNetV2 `features` indices whose expansion conv output is tapped (stride 8, 16).
TAP_BLOCKS = (7, 14)
TAP_CHANNELS = (192, 576, 1280)


class MobileNetV2Taps(nn.Module):
    """MobileNetV2 features returning {"c3", "c4", "c5"}: `[B, 192, H/8, W/8]`,
    `[B, 576, H/16, W/16]`, `[B, 1280, H/32, W/32]` (blocks 7 and 14 have stride 2 and no
    residual, so their expansion output is computed once and continued)."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {}
        start = 0
        for name, block in zip(("c3", "c4"), TAP_BLOCKS):
            x = self.features[start:block](x)
            expanded = self.features[block].conv[0](x)
            outputs[name] = expanded
            x = self.features[block].conv[1:](expanded)
            start = block + 1
        outputs["c5"] = self.features[start:](x)
        return outputs


class BackboneWithFPN(nn.Module):
    """MobileNetV2 taps + FPN: an ordered dict of P3..P7, each `[B, out_channels, ...]`."""

    def __init__(self, features: nn.Sequential, out_channels: int):
        super().__init__()
        self.body = MobileNetV2Taps(features)
        self.fpn = FeaturePyramidNetwork(
            list(TAP_CHANNELS),
            out_channels,
            extra_blocks=LastLevelP6P7(TAP_CHANNELS[-1], out_channels),
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor):
        return self.fpn(self.body(x))


def build_model(args: argparse.Namespace, num_classes: int) -> RetinaNet:
    """torchvision's RetinaNet on a MobileNetV2 (frozen BatchNorm) loaded from `args.weights`."""
    mobilenet = torchvision.models.mobilenet_v2(weights=None, norm_layer=FrozenBatchNorm2d)
    state = torch.load(args.weights, map_location="cpu", weights_only=False)
    missing, unexpected = mobilenet.load_state_dict(state, strict=False)
    # FrozenBatchNorm2d has no num_batches_tracked buffer; nothing else may be missing.
    unexpected = [k for k in unexpected if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{args.weights}: missing {missing}, unexpected {unexpected}.")
    sizes = tuple(tuple(size * scale for scale in ANCHOR_SCALES) for size in args.anchor_sizes)
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(ANCHOR_RATIOS,) * len(sizes))
    return RetinaNet(
        BackboneWithFPN(mobilenet.features, args.fpn_channels),
        num_classes=num_classes,
        min_size=args.image_size,
        max_size=args.image_size,
        anchor_generator=anchors,
        score_thresh=0.05,
        nms_thresh=0.5,
        detections_per_img=100,
        topk_candidates=1000,
    )


def load_split(json_path: str, image_dir: str) -> tuple[list[dict], int]:
    """`[{"id", "image" float [3, H, W] in [0, 1], "boxes" [N, 4] xyxy, "labels" [N]}]`
    and the annotation file's first category id (label 0)."""
    with open(json_path) as f:
        coco = json.load(f)
    category_ids = sorted(c["id"] for c in coco["categories"])
    if len(category_ids) != 1:
        raise ValueError(f"{json_path}: the reference trainer expects one category.")
    boxes: dict[int, list] = {image["id"]: [] for image in coco["images"]}
    for annotation in coco["annotations"]:
        x, y, w, h = annotation["bbox"]
        boxes[annotation["image_id"]].append([x, y, x + w, y + h])
    records = []
    for image in coco["images"]:
        pixels = np.asarray(Image.open(os.path.join(image_dir, image["file_name"])).convert("RGB"))
        records.append(
            {
                "id": image["id"],
                "image": torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255.0,
                "boxes": torch.tensor(boxes[image["id"]], dtype=torch.float32).reshape(-1, 4),
            }
        )
    for record in records:
        record["labels"] = torch.zeros(len(record["boxes"]), dtype=torch.int64)
    return records, category_ids[0]


def flipped(record: dict) -> tuple[torch.Tensor, dict]:
    """The image and boxes mirrored left-right."""
    width = record["image"].shape[-1]
    boxes = record["boxes"].clone()
    boxes[:, [0, 2]] = width - record["boxes"][:, [2, 0]]
    return record["image"].flip(-1), {"boxes": boxes, "labels": record["labels"]}


def learning_rate(step: int, args: argparse.Namespace) -> float:
    """Warmup from a third of the rate, then x`STEP_FACTOR` at each boundary."""
    rate = args.learning_rate * STEP_FACTOR ** sum(step >= b for b in args.step_boundaries)
    if step < args.warmup_steps:
        fraction = step / args.warmup_steps
        rate *= WARMUP_START_FACTOR + (1.0 - WARMUP_START_FACTOR) * fraction
    return rate


def train(model: RetinaNet, records: list[dict], args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        parameters, lr=args.learning_rate, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
    )
    order: list[int] = []
    step_seconds, losses = [], []
    model.train()
    for step in range(args.steps):
        started = time.perf_counter()
        images, targets = [], []
        for _ in range(args.batch_size):
            if not order:
                order = list(range(len(records)))
                rng.shuffle(order)
            record = records[order.pop()]
            if rng.random() < FLIP_PROBABILITY:
                image, target = flipped(record)
            else:
                image, target = record["image"], {k: record[k] for k in ("boxes", "labels")}
            images.append(image)
            targets.append(target)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        loss_parts = model(images, targets)
        loss = sum(loss_parts.values())
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"Loss {loss.item()} at step {step}.")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_seconds.append(time.perf_counter() - started)
        losses.append(round(loss.item(), 4))
        if step % args.log_every == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.3f} ({step_seconds[-1]:.2f} s)", flush=True)
    return {"step_seconds": step_seconds, "losses": losses}


@torch.no_grad()
def detect(model: RetinaNet, records: list[dict], category_id: int) -> list[dict]:
    """COCO results (`[x, y, w, h]` original pixels) of every record."""
    model.eval()
    results = []
    for record in records:
        output = model([record["image"]])[0]
        for box, score in zip(output["boxes"].tolist(), output["scores"].tolist()):
            x1, y1, x2, y2 = box
            results.append(
                {
                    "image_id": record["id"],
                    "category_id": category_id,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-json", required=True)
    parser.add_argument("--train-image-dir", required=True)
    parser.add_argument("--val-json", required=True)
    parser.add_argument("--val-image-dir", required=True)
    parser.add_argument("--weights", required=True, help="torchvision mobilenet_v2 .pth")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--warmup-steps", type=int, required=True)
    parser.add_argument("--step-boundaries", type=int, nargs="*", default=[])
    parser.add_argument("--image-size", type=int, required=True)
    parser.add_argument("--anchor-sizes", type=float, nargs=5, required=True)
    parser.add_argument("--fpn-channels", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=10)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_records, _ = load_split(args.train_json, args.train_image_dir)
    val_records, category_id = load_split(args.val_json, args.val_image_dir)
    model = build_model(args, num_classes=1)
    started = time.perf_counter()
    history = train(model, train_records, args)
    train_seconds = time.perf_counter() - started
    detections = detect(model, val_records, category_id)
    with open(args.out, "w") as f:
        json.dump(
            {
                "detections": detections,
                "train_seconds": train_seconds,
                **history,
                "settings": {k: v for k, v in vars(args).items() if k != "out"},
                "versions": {
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "torchvision": torchvision.__version__,
                },
            },
            f,
        )
    print(f"{len(detections)} detections -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
