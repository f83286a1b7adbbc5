"""engine.gojson: request bodies decoded with Go's rules and wording (pure)."""

from __future__ import annotations

import pytest

from wharfie.engine import gojson
from wharfie.errors import InvalidArgument


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "invalid JSON: got EOF while reading request body"),
        (
            b"{not json",
            "invalid JSON: invalid character 'n' looking for beginning of object key string",
        ),
        (b'{"a": NaN}', "invalid JSON: invalid character 'N' looking for beginning of value"),
        (b'{"a": -Infinity}', "invalid JSON: invalid character 'I' in numeric literal"),
        (b'{"a": 1} x', "unexpected content after JSON"),
        (b'{"a": 1', "invalid JSON: unexpected EOF"),
        (b"[1 2]", "invalid JSON: invalid character '2' after array element"),
        (b'{"a" 1}', "invalid JSON: invalid character '1' after object key"),
        (b"[" * 10_001 + b"]" * 10_001, "invalid JSON: invalid character '{' exceeded max depth"),
    ],
)
def test_syntax_errors(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gojson.loads(raw)
    assert str(err.value) == message


def test_deep_but_allowed_nesting_and_literals() -> None:
    doc = gojson.loads(b'{"a":' * 3000 + b"1" + b"}" * 3000)
    for _ in range(3000):
        doc = doc["a"]
    assert doc == 1
    value = gojson.loads(b"[1e400, 1.50]")
    assert [v.text for v in value] == ["1e400", "1.50"]


SCHEMA = (
    "T",
    {
        "Name": "string",
        "Inner": ("pkg.Inner", {"Count": "int64"}),
        "Items": ("[]pkg.Item", ("pkg.Item", {"Flag": "bool"})),
    },
)


def test_canonical_field_names_as_go_matches_them() -> None:
    body = {"name": "a", "INNER": {"count": 3}, "items": [{"FLAG": True}], "other": 1}
    assert gojson.canonical(body, SCHEMA) == {
        "Name": "a",
        "Inner": {"Count": 3},
        "Items": [{"Flag": True}],
        "other": 1,
    }
    # an exact match wins; a later duplicate overwrites an earlier one
    assert gojson.canonical({"NAME": "x", "name": "y"}, SCHEMA) == {"Name": "y"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": 1}, "cannot unmarshal number into Go struct field T.Name of type string"),
        (
            {"Inner": {"Count": "3"}},
            "cannot unmarshal string into Go struct field Inner.Inner.Count of type int64",
        ),
        (
            {"Inner": {"Count": gojson.loads(b"1e3")}},
            "cannot unmarshal number 1e3 into Go struct field Inner.Inner.Count of type int64",
        ),
        (
            {"Inner": {"Count": 1 << 64}},
            f"cannot unmarshal number {1 << 64} into Go struct field Inner.Inner.Count "
            "of type int64",
        ),
        (
            {"Items": [{"Flag": "yes"}]},
            "cannot unmarshal string into Go struct field Item.Items.Flag of type bool",
        ),
        ({"Items": {}}, "cannot unmarshal object into Go struct field T.Items of type []pkg.Item"),
    ],
)
def test_type_errors_in_gos_words(body: dict, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        gojson.check(body, SCHEMA)
    assert str(err.value) == f"invalid JSON: json: {message}"
