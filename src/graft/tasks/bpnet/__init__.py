"""BodyPoseNet: bottom-up multi-person 2D pose estimation."""
