"""Label codes shared by the data pipeline, the target encoder and the losses.

Ground truth fed to the model (`y["classes"]`, int32 `[B, N]`):
    * `>= 0`: a real object of that (contiguous, 0-based) class.
    * `PADDING_CLASS` (-1): a padded row; its box is ignored whatever it holds.
    * `CROWD_CLASS` (-2): a crowd / "ignore" region (COCO `iscrowd=1`): anchors that
      match it are neither positives nor negatives.

Encoded class targets (`class_targets`, int32 `[B, A]`, one per anchor):
    * `>= 0`: a positive anchor of that class.
    * `BACKGROUND` (-1): a negative anchor.
    * `IGNORE` (-2): an anchor in the IoU ignore band or on a crowd region; it adds
      nothing to either loss.
"""

PADDING_CLASS = -1
CROWD_CLASS = -2

BACKGROUND = -1
IGNORE = -2
