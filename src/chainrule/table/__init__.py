"""Tables: named columns of numbers and text (:class:`Table`), and the encoder that turns
them into features, fitted on the training rows only (:class:`TableEncoder`).

>>> from chainrule.table import TableEncoder
>>> enc = TableEncoder().fit({"size": [1.0, 2.0, None, 4.0],
...                            "colour": ["red", "blue", "red", None]})
...                            "colour": ["red", "blue", "red", None]})
>>> enc.names
['size', 'size (missing)', 'colour=blue', 'colour=red', 'colour=(missing)']
"""

from .columns import MISSING, NumberColumn, Table, TableError, TextColumn, drop_row_index, is_table
from .encoder import DateParts, Dropped, Encoded, Numeric, OneHot, TableEncoder

__all__ = ["MISSING", "DateParts", "Dropped", "Encoded", "NumberColumn", "Numeric", "OneHot",
           "Table", "TableEncoder", "TableError", "TextColumn", "drop_row_index", "is_table"]
