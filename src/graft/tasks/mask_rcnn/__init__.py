"""Mask R-CNN instance segmentation (TLT/TAO's mask_rcnn workflow on torchvision's model)."""
