#!/bin/bash
# List each shipment's highest logged temperature and whether it stayed within 2-8 C.
# Usage: audit_shipments.sh [shipments folder]
DIR="${1:-/app/data/shipments}"
for f in "$DIR"/*.json; do
  jq -r '[.shipment_id, (.readings_celsius | max), (.readings_celsius | min),
          (if (.readings_celsius | max) <= 8 and (.readings_celsius | min) >= 2 then "ok" else "EXCURSION" end)]
         | @tsv' "$f"
done
