"""Spec stage: the one grammar for picking layers, parsed once.

    all              every layer
    enc*  out  enc1  layer or group names, with shell-style globs (a group selects its layers)
    type:lstm        layers of a type
    extractor:C3     the layers below cut C3 (the feature extractor b)
    classifier:C3    the layers above cut C3 (the classifier t)

Matching against the graph happens later (check and plan stages), which report selectors that
match nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from nndsl.records import Record
from nndsl.spec.base import spec_error

SelectorKind = Literal["all", "name", "type", "extractor", "classifier"]


class Selector(Record):
    """A parsed selector: its kind and its argument (a glob, a type or a cut name)."""

    kind: SelectorKind
    argument: str = ""

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parse selector text.

        >>> Selector.parse("classifier:C3")
        Selector(kind='classifier', argument='C3')
        >>> Selector.parse("enc*")
        Selector(kind='name', argument='enc*')
        """
        text = text.strip()
        if text == "all":
            return cls("all")
        prefix, colon, argument = text.partition(":")
        if not colon:
            if not text:
                raise spec_error("value_error", "an empty selector selects nothing")
            return cls("name", text)
        if prefix not in ("type", "extractor", "classifier") or not argument:
            raise spec_error("selector", "selector `{text}` is not `all`, a name glob, `type:T`, "
                             "`extractor:CUT` or `classifier:CUT`", text=text)
        return cls(prefix, argument)  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.kind == "all":
            return self.kind
        return self.argument if self.kind == "name" else f"{self.kind}:{self.argument}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "description": "all | NAME-GLOB | type:TYPE | extractor:CUT | "
                                                 "classifier:CUT"}
