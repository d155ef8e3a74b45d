"""keras-retinanet: RetinaNet for Keras 3 on TensorFlow, exported to int8 TFLite."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = {}
exec((HERE / "keras_retinanet" / "version.py").read_text(), VERSION)

setup(
    name="keras-retinanet",
    version=VERSION["__version__"],
    description="RetinaNet (focal loss) for Keras 3 / TensorFlow with int8 TFLite export",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_retinanet", "keras_retinanet.*"]),
    install_requires=[
        "tensorflow>=2.18,<2.22",
        "keras>=3.10,<3.16",
        "numpy>=1.26,<3",
        "pycocotools>=2.0.8,<2.1",
        "pillow>=10,<14",
        "tensorflow-datasets>=4.9.7,<4.10",
        "ai-edge-litert>=2.0,<2.4",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4"],
        "dev": [
            "pytest>=8,<10",
            "pytest-xdist>=3.6,<4",
            "ruff>=0.8",
            "matplotlib>=3.8,<4",
            "mediapipe>=1.2.2,<1.3",
        ],
        # The detector API of Android / iOS / web apps, for the conformance tests and
        # tflite/check.py: MediaPipe Tasks' ObjectDetector runs the exported file.
        "clients": ["mediapipe>=1.2.2,<1.3"],
        "plot": ["matplotlib>=3.8,<4"],
        # Parity tests and benchmarks against the peers: tf-models-official pins
        # tensorflow~=2.20 and pulls tf_keras, so it never belongs to the core.
        "peers": ["keras-hub>=0.32,<0.33", "tf-models-official>=2.20,<2.21"],
    },
    entry_points={
        "console_scripts": [
            "retinanet-train=keras_retinanet.cli.train:main",
            "retinanet-evaluate=keras_retinanet.cli.evaluate:main",
            "retinanet-predict=keras_retinanet.cli.predict:main",
            "retinanet-debug=keras_retinanet.cli.debug:main",
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
