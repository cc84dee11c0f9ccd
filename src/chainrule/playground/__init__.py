"""``chainrule playground``: a local web page that trains a real chainrule network live.

Click any weight to see the notes' chain-rule factors for it, from
:func:`chainrule.explain` on the live network. Needs the ``playground`` extra
(Starlette, uvicorn, websockets); ``import chainrule`` never imports this package.
"""

from .config import DEFAULT_CONFIG, LIMITS, validate_config
from .session import Session

__all__ = ["DEFAULT_CONFIG", "LIMITS", "Session", "validate_config"]
