"""Running one probe: the runner, the browser and its pages, the request engine, later renderings.

Owns deadlines, engine choice, capture and assembly of the observation. May import `domain`,
`config`, `probe`, `evidence` and the platform registry (`probes`).
"""
