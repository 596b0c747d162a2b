"""An imported file checked against AWS's own service model, as botocore ships it.

A file saved with the AWS CLI holds what the API answered: botocore's model says the type of every
field at every depth. The parsers read the fields they store; this check makes sure that nothing
deeper (a finding's details, a policy's statements) is of a type the code reading it later cannot
take: such a file used to be stored and then broke detection, right-sizing and the pages.

Leniencies, for what the AWS CLI prints rather than what the wire carries: a timestamp may be ISO
text or epoch seconds, and a policy document (URL-encoded text on the wire) may be the decoded
object. A field the model does not know is left alone, and null is "absent" (the parsers check
what they require).
"""

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import Shape

from findings.aws.errors import ParseError

# String shapes the AWS CLI prints decoded, as JSON objects.
DOCUMENT_SHAPES = {"policyDocumentType"}


@cache
def _model(service: str):
    return botocore.session.get_session().get_service_model(service)


def check_shape(value: Any, *, service: str, shape: str, where: str = "") -> None:
    """ParseError naming the first field whose type is not what `shape` of `service` says."""
    _check(value, _model(service).shape_for(shape), where)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where and not where.endswith(".") else f"{where}{name}"


def _check(value: Any, shape: Shape, where: str) -> None:
    if value is None:
        return
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise ParseError(f"expected an object, found {_kind(value)}", field=where or None)
        for name, member in shape.members.items():
            if name in value:
                _check(value[name], member, _join(where, name))
    elif kind == "list":
        if not isinstance(value, list):
            raise ParseError(f"expected a list, found {_kind(value)}", field=where or None)
        for index, item in enumerate(value):
            _check(item, shape.member, f"{where}[{index}]")
    elif kind == "map":
        if not isinstance(value, Mapping):
            raise ParseError(f"expected an object, found {_kind(value)}", field=where or None)
        for key, item in value.items():
            _check(item, shape.value, _join(where, str(key)[:60]))
    elif kind == "string":
        documents = shape.name in DOCUMENT_SHAPES and isinstance(value, Mapping)
        if not (isinstance(value, str) or documents):
            raise ParseError(f"expected text, found {_kind(value)}", field=where or None)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParseError(f"expected a whole number, found {_kind(value)}", field=where or None)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParseError(f"expected a number, found {_kind(value)}", field=where or None)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ParseError(f"expected true or false, found {_kind(value)}", field=where or None)
    elif kind == "timestamp" and (
        isinstance(value, bool) or not isinstance(value, str | int | float | datetime)
    ):
        raise ParseError(f"expected a date, found {_kind(value)}", field=where or None)
    # blob and anything else: the parsers read none of it.


def check_policy_document(document: Any, where: str) -> None:
    """The grammar a policy document's readers rely on (IAM User Guide, "IAM JSON policy
    elements"): Statement an object or a list of them; Effect and Sid text; Action, NotAction,
    Resource and NotResource text or a list of text; Principal "*" or an object of text or
    lists of text; Condition an object of objects. AWS refuses any other document."""
    if not isinstance(document, Mapping):
        raise ParseError(f"expected an object, found {_kind(document)}", field=where)
    found = document.get("Statement")
    statements = [found] if isinstance(found, Mapping) else found
    if found is not None and not isinstance(statements, list):
        raise ParseError(
            f"expected an object or a list, found {_kind(found)}", field=f"{where}.Statement"
        )
    for index, statement in enumerate(statements or []):
        place = f"{where}.Statement[{index}]" if isinstance(found, list) else f"{where}.Statement"
        if not isinstance(statement, Mapping):
            raise ParseError(f"expected an object, found {_kind(statement)}", field=place)
        for key in ("Effect", "Sid"):
            if key in statement and not isinstance(statement[key], str):
                raise ParseError(
                    f"expected text, found {_kind(statement[key])}", field=f"{place}.{key}"
                )
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not _text_or_texts(statement[key]):
                raise ParseError(
                    f"expected text or a list of text, found {_kind(statement[key])}",
                    field=f"{place}.{key}",
                )
        for key in ("Principal", "NotPrincipal"):
            value = statement.get(key)
            if (
                key in statement
                and value != "*"
                and not (
                    isinstance(value, Mapping) and all(_text_or_texts(v) for v in value.values())
                )
            ):
                raise ParseError(
                    'expected "*" or an object of text or lists of text', field=f"{place}.{key}"
                )
        condition = statement.get("Condition")
        if "Condition" in statement and not (
            isinstance(condition, Mapping)
            and all(isinstance(test, Mapping) for test in condition.values())
        ):
            raise ParseError("expected an object of objects", field=f"{place}.Condition")


def _text_or_texts(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )
