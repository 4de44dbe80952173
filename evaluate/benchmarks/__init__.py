"""One module per benchmark, each registering itself with `@register_benchmark` (see evaluate/registry.py).

`evaluate.registry.discover()` imports every module here, so a new benchmark needs no other edit.
"""
