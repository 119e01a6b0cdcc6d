"""JSON text as deskbot stores it (non-ASCII kept as is), from encoders built once.

`json.dumps(obj, ensure_ascii=False)` builds a new encoder on every call; these give the same text."""

from __future__ import annotations

import json

dumps = json.JSONEncoder(ensure_ascii=False).encode
# values json cannot encode (datetimes in audit snapshots) are written as their str()
dumps_any = json.JSONEncoder(ensure_ascii=False, default=str).encode
