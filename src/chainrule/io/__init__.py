"""Files: the safetensors container, the schemas every file is checked against, the model
format, and atomic writes. Every reader here treats what it reads as untrusted."""

from .atomic import atomic_write_bytes
from .errors import FileFormatError
from .model import (
    BIT_GENERATORS,
    FORMAT,
    FORMAT_VERSION,
    MAX_HEADER_BYTES,
    MAX_LAYERS,
    MAX_NDIM,
    MAX_TENSOR_BYTES,
    MAX_TENSORS,
    MAX_UNITS,
    METADATA_KEYS,
    METADATA_SCHEMA,
    OPTIONAL_METADATA_KEYS,
    TENSOR_SCHEMA,
    LoadedModel,
    ModelFileError,
    dumps_safetensors,
    load,
    loads_safetensors,
    model_to_bytes,
    read_model,
    save,
)

__all__ = [
    "BIT_GENERATORS", "FORMAT", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_LAYERS", "MAX_NDIM",
    "MAX_TENSOR_BYTES", "MAX_TENSORS", "MAX_UNITS", "METADATA_KEYS", "METADATA_SCHEMA",
    "OPTIONAL_METADATA_KEYS", "TENSOR_SCHEMA", "FileFormatError", "LoadedModel",
    "ModelFileError", "atomic_write_bytes", "dumps_safetensors", "load", "loads_safetensors",
    "model_to_bytes", "read_model", "save",
]
