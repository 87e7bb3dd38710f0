"""Parses a Prometheus exposition page from stdin with the prometheus_client
package's own parsers and prints what they read as JSON.

The end-to-end tests use it as a reader that is not ours: argv[1] is
"classic" (the 0.0.4 text format) or "openmetrics". A page the parser
refuses exits non-zero with its error on stderr.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as classic_families


def main() -> None:
    parse = {"classic": classic_families, "openmetrics": openmetrics_families}[sys.argv[1]]
    page = sys.stdin.read()
    families = []
    for family in parse(page):
        families.append(
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                # repr keeps NaN and infinities, which JSON has no words for.
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": repr(s.value)}
                    for s in family.samples
                ],
            }
        )
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
