"""What a chainrule model file's metadata must hold: its schema, and the checks a schema
cannot say.

The metadata holds, each as a JSON string: ``format`` (:data:`FORMAT`),
``format_version``, ``chainrule_version``, ``config`` (:meth:`Network.get_config`),
``classes``, ``feature_names``, ``scaler``, ``optimizer`` (config and step count t),
``rng`` (the generator's state, so resumed training shuffles as uninterrupted training
would), ``training`` (a free summary; its ``table`` names the training table by absolute
path and fingerprint) and, for a network fed by a table encoder,
``encoder``. :func:`metadata_values` parses each and checks all of them against
:data:`METADATA_SCHEMA` (every field typed before anything is built);
:func:`check_architecture` checks what the schema cannot: the layer sizes chain, and the
classes and feature names fit the outputs and inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..table.state import ENCODER_SCHEMA
from .container import ModelFileError, check_schema
from .errors import parse_json
from .schema import AnyJSON, Bool, Int, List, Null, Num, Obj, OneOf, Schema, Str, Tagged, short

FORMAT = "chainrule.mlp"
FORMAT_VERSION = 1
#: Caps on the architecture a file may declare, checked before anything is allocated.
MAX_LAYERS = 10_000
MAX_UNITS = 2**31 - 1
#: The metadata entries that hold JSON.
METADATA_KEYS = ("config", "classes", "feature_names", "scaler", "optimizer", "rng", "training")
#: Keys a model file may lack (written by later versions of the format).
OPTIONAL_METADATA_KEYS = ("encoder",)

#: JSON scalars: the parameters of activations, losses, optimizers and schedules.
_SCALAR = OneOf(Null(), Bool(), Int(), Num(), Str(max_len=1000))
_NAME = Str(max_len=100)
_NAMED = Obj(required={"name": _NAME}, extra=_SCALAR)
_DENSE = Obj(
    required={"type": _NAME, "n_in": Int(1, MAX_UNITS), "n_out": Int(1, MAX_UNITS),
              "activation": OneOf(Null(), _NAME, _NAMED)},
    optional={"bias": Bool(), "init": OneOf(Null(), _NAME)},
    extra=AnyJSON(),
)
_DROPOUT = Obj(required={"type": _NAME, "rate": Num(0.0, 1.0, hi_open=True)},
               extra=AnyJSON())
#: The schema of each built-in layer type's config, by its ``type``.
LAYER_SCHEMAS: dict[str, Schema] = {"Dense": _DENSE, "Dropout": _DROPOUT}


class _LayerSchemas(Mapping[str, Schema]):
    """The layer types a model file may name: the built-in ones, then every other type
    registered in :data:`chainrule.engine.layer.LAYERS` (a ``Layer`` subclass with a
    ``name``) that states the schema of its config (``config_schema``). A file holding any
    other type is refused before anything is built. Read at each check, so a type defined
    after import (a user's subclass) loads without touching chainrule's source."""

    def _all(self) -> dict[str, Schema]:
        from ..engine.layer import LAYERS

        extra = {name: cls.config_schema for name, cls in LAYERS.items()
                 if name not in LAYER_SCHEMAS and cls.config_schema is not None}
        return {**LAYER_SCHEMAS, **extra}

    def __getitem__(self, name: str) -> Schema:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


_CONFIG = Obj(
    required={
        "layers": List(Tagged("type", _LayerSchemas()), 1, MAX_LAYERS),
        "loss": OneOf(_NAME, _NAMED),
        "dtype": Str(choices=("float32", "float64")),
        "l2": Num(0.0),
    },
    optional={"fused": Bool()},  # files from before get_config() held it: fused=True
    extra=AnyJSON(),
)
_OPTIMIZER = Obj(
    required={
        "config": Obj(required={"name": _NAME},
                      optional={"lr": OneOf(Num(0.0), _NAMED)}, extra=_SCALAR),
        "t": Int(0, 2**63 - 1),
    },
    extra=AnyJSON(),
)
_PCG64 = Obj(required={
    "bit_generator": _NAME,
    "state": Obj(required={"state": Int(0, 2**128 - 1), "inc": Int(0, 2**128 - 1)}),
    "has_uint32": Int(0, 1),
    "uinteger": Int(0, 2**32 - 1),
})
_U32, _U64 = Int(0, 2**32 - 1), Int(0, 2**64 - 1)
_MT19937 = Obj(required={
    "bit_generator": _NAME,
    "state": Obj(required={"key": List(_U32, 624, 624), "pos": Int(0, 624)}),
})
_PHILOX = Obj(required={
    "bit_generator": _NAME,
    "state": Obj(required={"counter": List(_U64, 4, 4), "key": List(_U64, 2, 2)}),
    "buffer": List(_U64, 4, 4),
    "buffer_pos": Int(0, 4),
    "has_uint32": Int(0, 1),
    "uinteger": _U32,
})
_SFC64 = Obj(required={
    "bit_generator": _NAME,
    "state": Obj(required={"state": List(_U64, 4, 4)}),
    "has_uint32": Int(0, 1),
    "uinteger": _U32,
})
#: Every bit generator a Network's ``rng`` may use, with the schema of its saved state.
BIT_GENERATORS: dict[str, tuple[type[np.random.BitGenerator], Schema]] = {
    "PCG64": (np.random.PCG64, _PCG64),
    "PCG64DXSM": (np.random.PCG64DXSM, _PCG64),
    "MT19937": (np.random.MT19937, _MT19937),
    "Philox": (np.random.Philox, _PHILOX),
    "SFC64": (np.random.SFC64, _SFC64),
}
_TEXT_OR_NULL = OneOf(Null(), Str())
#: The largest count a run records (epochs, samples, batch size: a run's own INT_MAX).
MAX_COUNT = 2**31 - 1
_COUNT, _EPOCH = Int(0, MAX_COUNT), Int(1, MAX_COUNT)
_SPLIT = Num(0.0, 1.0, hi_open=True)
#: A training run's state in its checkpoint (``training.checkpoint``: what
#: :class:`chainrule.runs.checkpoint.CheckpointState` writes), every field typed and
#: bounded; what the fields must say of each other is checked where it is read
#: (:meth:`~chainrule.runs.checkpoint.CheckpointState.from_json`).
CHECKPOINT_SCHEMA = Obj(
    required={"epoch": _COUNT, "epochs": _COUNT, "history_epochs": List(_EPOCH),
              "history": Obj(extra=List(Num()))},
    optional={
        "best_monitor": OneOf(Null(), _NAME), "best_value": OneOf(Null(), Num()),
        "best_epoch": OneOf(Null(), _EPOCH),
        "early_stopping": OneOf(Null(), Obj(required={
            "best": OneOf(Null(), Num()), "best_epoch": _COUNT, "wait": _COUNT})),
        "stopped": Bool(), "train_seconds": Num(0.0),
    },
)
#: The training table (:func:`chainrule.datasets.fingerprint`): its absolute path, size
#: and SHA-256, checked before a command reads it again.
TABLE_SCHEMA = Obj(required={"path": Str(max_len=4096), "size": Int(0, 2**63 - 1),
                             "sha256": Str(max_len=64)})
_TRAINING = Obj(
    optional={
        "table": TABLE_SCHEMA,
        "config": Obj(optional={
            "dataset": _NAME, "csv": _TEXT_OR_NULL, "npz": _TEXT_OR_NULL,
            "target": _TEXT_OR_NULL, "task": OneOf(Null(), _NAME),
            "data_dir": _TEXT_OR_NULL, "n_samples": Int(2, MAX_COUNT), "noise": Num(0.0),
            "seed": Int(0, 2**63 - 1), "val_split": _SPLIT, "test_split": _SPLIT,
            "batch_size": Int(1, MAX_COUNT), "epochs": Int(1, MAX_COUNT),
        }, extra=AnyJSON()),
        "checkpoint": OneOf(Null(), CHECKPOINT_SCHEMA),
        "task": _NAME,
        "target_names": List(Str()),
        "epochs_run": Int(0),
        "final": Obj(extra=AnyJSON()),
        "test": Obj(extra=AnyJSON()),
        "n_train": Int(0), "n_val": Int(0), "n_test": Int(0),
        "train_seconds": Num(0.0),
        "date": Str(),
    },
    extra=AnyJSON(),
)

#: A :class:`~chainrule.table.TableEncoder`'s state (``TableEncoder.to_dict``), its schema
#: kept beside the code that writes it.
_ENCODER = ENCODER_SCHEMA

#: The metadata of a chainrule model, each value parsed from its JSON string.
METADATA_SCHEMA = Obj(
    required={
        "config": _CONFIG,
        "classes": OneOf(Null(), List(OneOf(Str(max_len=10_000), Int(), Num()), 1)),
        "feature_names": OneOf(Null(), List(Str(max_len=10_000))),
        "scaler": Bool(),
        "optimizer": OneOf(Null(), _OPTIMIZER),
        "rng": OneOf(Null(), Tagged("bit_generator", {
            name: schema for name, (_, schema) in BIT_GENERATORS.items()})),
        "training": OneOf(Null(), _TRAINING),
    },
    optional={"encoder": OneOf(Null(), _ENCODER)},  # files before table encoders lack it
)


def metadata_values(raw_meta: dict[str, str], source: str) -> dict[str, Any]:
    """Check format and version, parse each JSON value, check them against the schema."""
    if raw_meta.get("format") != FORMAT:
        raise ModelFileError(source, f"metadata format is {short(raw_meta.get('format'))}, "
                             f"expected {FORMAT!r}; not a chainrule model file")
    if raw_meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(
            source, f"format version {short(raw_meta.get('format_version'))} is not "
            f"supported; this chainrule reads version {FORMAT_VERSION} (upgrade chainrule, or "
            "re-save the model with a matching version)"
        )
    meta: dict[str, Any] = {}
    for key in METADATA_KEYS:
        if key not in raw_meta:
            raise ModelFileError(source, f"metadata lacks {key!r}; not a chainrule model file")
        meta[key] = parse_json(raw_meta[key], source, error=ModelFileError,
                               what=f"metadata {key!r}")
    for key in OPTIONAL_METADATA_KEYS:
        meta[key] = (parse_json(raw_meta[key], source, error=ModelFileError,
                                what=f"metadata {key!r}") if key in raw_meta else None)
    check_schema(METADATA_SCHEMA, meta, source)
    meta["chainrule_version"] = raw_meta.get("chainrule_version")
    return meta


def check_architecture(meta: dict[str, Any], source: str) -> None:
    """What the schema cannot say: consecutive Dense sizes, classes and feature names
    against the outputs and inputs."""
    dense = [(i, c) for i, c in enumerate(meta["config"]["layers"]) if c["type"] == "Dense"]
    if not dense:
        raise ModelFileError(source, "no Dense layer", "config.layers")
    for (_, before), (i, layer) in zip(dense, dense[1:], strict=False):
        if layer["n_in"] != before["n_out"]:
            raise ModelFileError(source, f"n_in={layer['n_in']} does not match n_out="
                                 f"{before['n_out']} of the Dense layer before",
                                 f"config.layers[{i}]")
    # a first layer that is not Dense (an embedding) may change the width a^(0) has
    first = meta["config"]["layers"][0]
    n_in = first["n_in"] if isinstance(first.get("n_in"), int) else dense[0][1]["n_in"]
    n_out = dense[-1][1]["n_out"]
    classes = meta["classes"]
    if classes is not None:
        if len(classes) != n_out and not (len(classes) == 2 and n_out == 1):
            raise ModelFileError(source, f"{len(classes)} classes for {n_out} outputs",
                                 "classes")
        seen: dict[Any, int] = {}
        for i, c in enumerate(classes):
            key = (type(c) is str, c)
            if key in seen:
                raise ModelFileError(source, f"{short(c)} repeats classes[{seen[key]}]",
                                     f"classes[{i}]")
            seen[key] = i
    names = meta["feature_names"]
    if meta["encoder"] is not None:
        check_encoder(meta["encoder"], n_in, names, source)
    elif names is not None and len(names) != n_in:
        raise ModelFileError(source, f"{len(names)} names for {n_in} inputs", "feature_names")


def check_encoder(state: dict[str, Any], n_in: int, names: list[str] | None,
                  source: str) -> None:
    """A table encoder's state against the network it feeds: one entry per column, its
    features as many as the inputs, ``feature_names`` its input columns."""
    from ..table import TableEncoder

    columns = [c["column"] for c in state["columns"]]
    if len(set(columns)) != len(columns):
        raise ModelFileError(source, "a column is encoded twice", "encoder.columns")
    for i, c in enumerate(state["columns"]):
        if c["kind"] == "date" and not c["parts"]:
            raise ModelFileError(source, "a date column with no parts",
                                 f"encoder.columns[{i}].parts")
    encoder = TableEncoder.from_dict(state)
    if encoder.n_out != n_in:
        raise ModelFileError(source, f"the table encoder makes {encoder.n_out} features "
                             f"for {n_in} inputs", "encoder")
    if names is not None and names != encoder.inputs:
        raise ModelFileError(source, "feature_names are not the table encoder's input "
                             "columns", "feature_names")


__all__ = [
    "BIT_GENERATORS", "CHECKPOINT_SCHEMA", "FORMAT", "FORMAT_VERSION", "LAYER_SCHEMAS",
    "MAX_COUNT", "MAX_LAYERS", "MAX_UNITS",
    "METADATA_KEYS", "METADATA_SCHEMA", "OPTIONAL_METADATA_KEYS", "TABLE_SCHEMA",
    "check_architecture",
    "check_encoder", "metadata_values",
]
