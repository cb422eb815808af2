"""Image classification: ImageFolder data, torchvision backbones, top-k evaluation."""
