"""URL converters of the REST API."""


class NumberConverter:
    """A package or transfer number in a URL: 1–100 characters, no slash and no control
    character (a NUL would reach the database driver and fail there)."""

    regex = r"[^/\x00-\x1f\x7f]{1,100}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
