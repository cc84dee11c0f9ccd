"""Tables: named columns of numbers and text (:class:`Table`), and the encoder that turns
them into features, fitted on the training rows only (:class:`TableEncoder`).

>>> from chainrule.table import TableEncoder
>>> enc = TableEncoder().fit({"size": [1.0, 2.0, None, 4.0],
...                            "colour": ["red", "blue", "red", None]})
>>> enc.names
['size', 'size (missing)', 'colour=blue', 'colour=red', 'colour=(missing)']
"""

from .categories import Codes, Levels, OneHot
from .columns import MISSING, NumberColumn, Table, TableError, TextColumn, drop_row_index, is_table
from .dates import DateParts
from .encoder import Encoded, TableEncoder
from .numeric import Numeric
from .state import Dropped

__all__ = ["MISSING", "Codes", "DateParts", "Dropped", "Encoded", "Levels", "NumberColumn",
           "Numeric", "OneHot", "Table", "TableEncoder", "TableError", "TextColumn",
           "drop_row_index", "is_table"]
