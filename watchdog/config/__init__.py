"""The configuration: its schema, its strict loader and YAML positions for `file:line:key` errors.

Owns every section's model (notifications included) and the checks across sections. May import
`domain` and the platform registry (`probes`) to validate each platform's options; nothing above.
"""
