"""The PHI values an event carries (at the paths its schema marks phi), for leak checks."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from streams.phi.fields import phi_field_paths

_PATHS = phi_field_paths()


def phi_values(model: BaseModel) -> set[str]:
    """Every PHI value in *model* as text (dates in ISO form); empty strings left out."""
    found: set[str] = set()
    cls = type(model).__name__
    for name in type(model).model_fields:
        value = getattr(model, name)
        if f"{cls}.{name}" in _PATHS and value:
            found.add(value.isoformat() if isinstance(value, date) else str(value))
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, BaseModel):
                found |= phi_values(item)
    return found
