"""Code 128 barcodes as inline SVG, for the printable shipping ticket (no dependency).

Encoding (ISO/IEC 15417): a start symbol (code set B for printable ASCII, or code set C
when the value is an even number of digits, two digits per symbol), one symbol per
character (pair), the checksum symbol (start value + Σ position × value, mod 103) and the
stop pattern. Each symbol is six bar/space widths adding up to 11 modules; the stop has
seven adding up to 13. The SVG draws one ``rect`` per bar on a 1-module grid with a
10-module quiet zone each side, so it scales to any printed width.
"""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

# Bar/space widths of symbol values 0..105, then the stop pattern (106).
PATTERNS = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)
START_B = 104
START_C = 105
STOP = 106
QUIET_ZONE_MODULES = 10


def code128_values(value: str) -> list[int]:
    """Return the symbol values of ``value``: start, data, checksum, stop.

    Raises ValueError for an empty value or a character outside printable ASCII (32–126).
    """
    if not value:
        raise ValueError("A barcode needs at least one character")
    if any(not 32 <= ord(ch) <= 126 for ch in value):
        raise ValueError(f"Code 128 set B encodes printable ASCII only: {value!r}")
    if value.isdigit() and len(value) % 2 == 0 and len(value) >= 4:
        data = [int(value[i:i + 2]) for i in range(0, len(value), 2)]
        start = START_C
    else:
        data = [ord(ch) - 32 for ch in value]
        start = START_B
    checksum = (start + sum(position * v for position, v in enumerate(data, start=1))) % 103
    return [start, *data, checksum, STOP]


def code128_widths(value: str) -> list[int]:
    """Return the bar/space widths in modules, bar first, for ``value`` (without quiet zones)."""
    return [int(width) for symbol in code128_values(value) for width in PATTERNS[symbol]]


def code128_svg(value: str, *, height_modules: int = 40, css_class: str = "barcode") -> SafeString:
    """Return an inline ``<svg>`` of ``value`` as a Code 128 barcode (bars only; the page
    prints the text under it).

    The SVG's user unit is one module and it stretches to the box CSS gives it
    (``preserveAspectRatio="none"``), so bars keep their proportions across the width.
    """
    try:
        widths = code128_widths(value)
    except ValueError:  # not printable ASCII: print the text only, never fail the page
        return format_html('<span class="{} barcode-unavailable">{} ({})</span>',
                           css_class, value, gettext("no barcode: not ASCII"))
    total = sum(widths) + 2 * QUIET_ZONE_MODULES
    bars = []
    x = QUIET_ZONE_MODULES
    for index, width in enumerate(widths):
        if index % 2 == 0:
            bars.append(f'<rect x="{x}" y="0" width="{width}" height="{height_modules}"/>')
        x += width
    label = escape(value)
    name = escape(gettext("Code 128 barcode %(value)s") % {"value": value})
    return mark_safe(  # built from integers and the escaped value only
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {total} {height_modules}" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges" role="img" aria-label="{name}" '
        f'data-value="{label}" data-modules="{total}">'
        f'<rect x="0" y="0" width="{total}" height="{height_modules}" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )
