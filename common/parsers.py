"""Request bodies: DRF's JSON parser, with a clear answer for JSON nested too deeply."""
from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """Python's json module recurses once per level of nesting: a body such as
    100,000 "[" raises RecursionError, which DRF's parser does not turn into a
    ParseError as it does other malformed JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - arrays or objects nested too deeply.") from None
