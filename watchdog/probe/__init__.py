"""The contract a platform author codes against (docs/architecture.md, « Adding a platform »).

Owns the probe session on a page (`session`), the request engine's session (`requesting`) and
the resources it fetches for later renderings, forms, tables, page text and site dates as a person
reads them, consent banners, the classifier and the one table mapping exceptions to outcomes.
May import `domain` only; `probes/` (the platform plugins) import this and `domain`.
"""
