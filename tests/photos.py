"""Real photos for tests of ImageNet models: files bundled in scikit-image's wheel (copied as
they are, never fetched), with the ImageNet labels a correct classifier gives them."""

from __future__ import annotations

import shutil
from pathlib import Path

# photo -> ImageNet classes that name it correctly (torchvision's class names)
LABELED = {
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},  # a tabby cat
    "coffee.png": {"espresso", "cup", "coffee mug"},  # a cup of espresso on a saucer
}
# other bundled images, for INT8 calibration (none of them is a labeled photo)
CALIBRATION = ("astronaut.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png", "retina.jpg",
               "motorcycle_right.png", "coins.png", "camera.png")


def bundled(name: str) -> Path:
    """A file of scikit-image's wheel (skimage/data), failing if it is not bundled."""
    import skimage

    path = Path(skimage.__file__).parent / "data" / name
    assert path.is_file(), f"{name} is not bundled with scikit-image {skimage.__version__}"
    return path


def copy_photos(names, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(bundled(name), folder / name)
    return folder
