"""Safe parsing of WeCom callback XML (envelopes and decrypted messages) into plain dicts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

# ElementTree (expat) never fetches external entities, but it does expand internal ones
# ("billion laughs"). WeCom never sends a DTD, so any DOCTYPE/ENTITY is refused outright.
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_XML_BYTES = 256 * 1024


class BadXml(ValueError):
    pass


def parse_xml(text: str | bytes) -> dict[str, Any]:
    """Top-level children of `<xml>` as {tag: text}; `SelectedItems` becomes a list of
    {"QuestionKey": str, "OptionIds": [str, ...]} (template card selector answers)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadXml("body is not UTF-8") from exc
    if len(text) > MAX_XML_BYTES:
        raise BadXml("body too large")
    if _DTD.search(text):
        raise BadXml("DTDs are not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise BadXml(f"malformed XML: {exc}") from exc
    out: dict[str, Any] = {}
    for child in root:
        if child.tag == "SelectedItems":
            out["SelectedItems"] = [
                {"QuestionKey": (item.findtext("QuestionKey") or "").strip(),
                 "OptionIds": [(o.text or "").strip() for o in item.iter("OptionId")]}
                for item in child.iter("SelectedItem")
            ]
        elif len(child):
            out[child.tag] = {g.tag: (g.text or "") for g in child}
        else:
            out[child.tag] = child.text or ""
    return out
