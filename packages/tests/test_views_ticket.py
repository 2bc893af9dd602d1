"""Code 128 barcodes of the shipping ticket: the symbol table, the encoding and the SVG."""

import re

import pytest

from packages.barcode import PATTERNS, START_B, START_C, STOP, code128_svg, code128_values, code128_widths


def decode(widths):
    """Read bar/space widths back into text (test oracle: table lookup, checksum check)."""
    symbols = [widths[i:i + 6] for i in range(0, len(widths) - 7, 6)]
    assert "".join(map(str, widths[-7:])) == PATTERNS[STOP]
    lookup = {pattern: value for value, pattern in enumerate(PATTERNS[:STOP])}
    values = [lookup["".join(map(str, s))] for s in symbols]
    start, *data, checksum = values
    assert checksum == (start + sum(i * v for i, v in enumerate(data, start=1))) % 103
    if start == START_C:
        return "".join(f"{v:02d}" for v in data)
    assert start == START_B
    return "".join(chr(v + 32) for v in data)


def test_symbol_table_is_well_formed():
    assert len(PATTERNS) == 107 and len(set(PATTERNS)) == 107
    for value, pattern in enumerate(PATTERNS):
        assert sum(map(int, pattern)) == (13 if value == STOP else 11)
        assert len(pattern) == (7 if value == STOP else 6)
        assert all(1 <= int(w) <= 4 for w in pattern)


def test_known_checksum():
    # ISO/IEC 15417 worked example style: Start B, "PJJ123C", checksum (104 + Σ i·v) mod 103
    assert code128_values("PJJ123C") == [START_B, 48, 42, 42, 17, 18, 19, 35, 55, STOP]


@pytest.mark.parametrize("value", ["077d6b93c4e88d06b124cf24fb67a28e-1", "BR000000450SP", "DEMO-TR-0036-1",
                                   "a b~{}|", "12345678", "1"])
def test_round_trip(value):
    assert decode(code128_widths(value)) == value


def test_even_digit_strings_use_code_set_c():
    assert code128_values("123456")[0] == START_C
    assert code128_values("12345")[0] == START_B


def test_rejects_empty_and_non_ascii():
    with pytest.raises(ValueError):
        code128_values("")
    with pytest.raises(ValueError):
        code128_values("São")


def test_svg_draws_one_rect_per_bar_and_escapes_the_value():
    svg = str(code128_svg('A<"&'))
    widths = code128_widths('A<"&')
    bars = re.findall(r'<rect x="(\d+)" y="0" width="(\d)"', svg)
    assert len(bars) == len(widths[::2])
    assert [int(w) for _, w in bars] == widths[::2]
    assert int(bars[0][0]) == 10  # quiet zone
    assert "<\"&" not in svg and "A&lt;&quot;&amp;" in svg
