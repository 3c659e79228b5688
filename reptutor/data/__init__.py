r"""Procedural data generators with known ground truth (factors, mutual information, labels)."""

from reptutor.data.digits import DigitsTensors, augment_digits, load_digits_tensors
from reptutor.data.moons import HalfMoons, make_half_moons
from reptutor.data.gaussian import CorrelatedGaussian, ar1_covariance
from reptutor.data.multiview import MultiviewData, make_multiview
from reptutor.data.content_style import ContentStyleViews, make_content_style
from reptutor.data.boxes import (
    crop_intersection,
    grid_boxes,
    map_boxes,
    sample_boxes,
    visible_fraction,
)
from reptutor.data.scenes import (
    SCENE_CLASSES,
    Scenes,
    Views,
    crop_resize,
    make_scenes,
    random_resized_crop,
)
from reptutor.data.sequences import GlobalLocalSequences, make_global_local_sequences
from reptutor.data.gdt_clips import (
    Clips,
    Sensor,
    TransformGrid,
    make_clips,
    observe,
    random_sensor,
    time_reverse,
    time_shift,
    transform_grid,
)
from reptutor.data.images import (
    SHAPE_CLASSES,
    ShapeImages,
    TextureImages,
    make_shapes,
    make_textures,
)

__all__: list[str] = ["CorrelatedGaussian", "ar1_covariance", "make_half_moons", "HalfMoons",
                      "make_multiview", "MultiviewData",
                      "make_content_style", "ContentStyleViews",
                      "make_clips", "Clips", "time_reverse", "time_shift", "transform_grid",
                      "TransformGrid", "random_sensor", "Sensor", "observe",
                      "DigitsTensors", "load_digits_tensors", "augment_digits",
                      "make_shapes", "ShapeImages", "SHAPE_CLASSES",
                      "make_textures", "TextureImages",
                      "make_global_local_sequences", "GlobalLocalSequences",
                      "make_scenes", "Scenes", "SCENE_CLASSES", "Views", "random_resized_crop",
                      "crop_resize", "map_boxes", "crop_intersection", "visible_fraction",
                      "sample_boxes", "grid_boxes"]
