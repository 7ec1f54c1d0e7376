"""Sky positions given as a SkyCoord, as numbers of degrees or as astropy Quantities."""

from __future__ import annotations

import sys
from typing import Any

from jupyter_samp.errors import InvalidValueError


def sky_position(coord_or_ra: Any, dec: Any = None) -> tuple[float, float]:
    """ICRS right ascension and declination in degrees.

    Raises
    ------
    InvalidValueError
        Not one position, not numbers, or a declination outside [-90, 90].
    """
    if dec is None:
        if not hasattr(coord_or_ra, "transform_to"):
            raise InvalidValueError("give a SkyCoord, or both ra and dec in degrees")
        icrs = coord_or_ra.icrs
        if not icrs.isscalar:
            raise InvalidValueError("point_at takes one position, not an array of them")
        ra_deg, dec_deg = float(icrs.ra.deg), float(icrs.dec.deg)
    else:
        ra_deg, dec_deg = _degrees(coord_or_ra, "ra"), _degrees(dec, "dec")
    if not -90.0 <= dec_deg <= 90.0:
        raise InvalidValueError(f"declination {dec_deg} is outside [-90, 90] degrees")
    return ra_deg % 360.0, dec_deg


def _degrees(value: Any, what: str) -> float:
    units = sys.modules.get("astropy.units")
    if units is not None and isinstance(value, units.Quantity):
        value = value.to_value(units.deg)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidValueError(f"{what} must be a number of degrees, not {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidValueError(f"{what} must be finite")
    return number
