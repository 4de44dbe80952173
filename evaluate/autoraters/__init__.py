"""One module per autorater family, each registering itself with `@register_autorater` (see evaluate/registry.py).

`evaluate.registry.discover()` imports every module here, so a new autorater needs no other edit.
"""
