"""Match ids: 12 hex digits. They name folders and files (STATE_DIR/matches/ID, export's ID.npz),
so a string is used as one only once it is checked to be one. (Light: no daemon packages.)"""
from __future__ import annotations

import re
import uuid

MATCH_ID = re.compile(r"[0-9a-f]{12}")


def new_match_id() -> str:
    return uuid.uuid4().hex[:12]
