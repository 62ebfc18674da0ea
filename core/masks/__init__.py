"""Label-map formats: export (VOC, COCO, labelme, YOLO, binary PNGs) with provenance, and import.

Label maps are H×W uint8: 0 background, i the i-th class, 255 ignore. Every file is written
atomically; nothing here deletes a file it did not write.
"""
from core.masks.binary import read_binary_masks
from core.masks.exporter import (
    FORMATS,
    ExportItem,
    ExportOptions,
    Exporter,
    ExportSummary,
    export_label_maps,
    find_clashes,
)
from core.masks.importers import import_coco, import_voc_folder
from core.masks.labelme import read_labelme
from core.masks.names import match_class_names, normalize_class_name, read_class_names
from core.masks.palette import read_label_png, voc_colormap, write_label_png
from core.masks.provenance import Provenance
from core.masks.yolo import read_yolo

__all__ = [
    "FORMATS",
    "ExportItem",
    "ExportOptions",
    "ExportSummary",
    "Exporter",
    "Provenance",
    "export_label_maps",
    "find_clashes",
    "import_coco",
    "import_voc_folder",
    "match_class_names",
    "normalize_class_name",
    "read_binary_masks",
    "read_class_names",
    "read_label_png",
    "read_labelme",
    "read_yolo",
    "voc_colormap",
    "write_label_png",
]
