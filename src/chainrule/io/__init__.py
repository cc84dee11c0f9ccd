"""Files. Every reader here treats what it reads as untrusted.

========================  ==================================================================
:mod:`.schema`            the one schema library: model headers, run configs, playground
                          messages (imports nothing from chainrule)
:mod:`.container`         the safetensors container: bytes, header checks, limits
:mod:`.metadata`          what a model file's metadata must hold
:mod:`.model`             the model format: :func:`save`, :func:`read_model`, :func:`load`
:mod:`.atomic`            atomic writes
:mod:`.errors`            :class:`FileFormatError` and the guarded JSON and file readers
========================  ==================================================================
"""

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
