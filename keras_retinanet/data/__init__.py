"""Dataset loaders: every one yields the element described in `detection_dataset`."""

from keras_retinanet.data.annotation_record import AnnotationRecord
from keras_retinanet.data.coco_json_dataset import CocoJsonDataset
from keras_retinanet.data.csv_dataset import CsvDataset
from keras_retinanet.data.detection_dataset import ELEMENT_SPEC, DetectionDataset
from keras_retinanet.data.shapes_dataset import ShapesDataset
from keras_retinanet.data.tfds_dataset import TfdsDataset
from keras_retinanet.data.tfrecord_dataset import TFRecordDataset, write_tfrecord
from keras_retinanet.data.voc_xml_dataset import VocXmlDataset

__all__ = [
    "ELEMENT_SPEC",
    "AnnotationRecord",
    "CocoJsonDataset",
    "CsvDataset",
    "DetectionDataset",
    "ShapesDataset",
    "TFRecordDataset",
    "TfdsDataset",
    "VocXmlDataset",
    "write_tfrecord",
]
