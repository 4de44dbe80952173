#!/usr/bin/env python3
"""KPI validator (quality assurance): the audit in /app/output/audit.json must agree with the sensor logs, and at
least 95% of shipments must have stayed within 2-8 C. Shipments whose logger is marked faulty are left out."""
import json
import pathlib
import sys

LOGS = pathlib.Path("/app/data/shipments")
REPORT = pathlib.Path("/app/output/audit.json")
TARGET = 0.95


def main() -> int:
    if not REPORT.exists():
        print(f"FAIL: {REPORT} not found")
        return 1
    try:
        report = json.loads(REPORT.read_text())
        reported_rate = float(report["compliance_rate"])
        reported_ids = set(report["excursions"])
    except (ValueError, KeyError, TypeError):
        print("FAIL: audit.json needs compliance_rate (0-1) and excursions (a list of shipment ids)")
        return 1
    counted, excursions = 0, set()
    for path in sorted(LOGS.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc.get("sensor_fault"):
            continue
        counted += 1
        if max(doc["readings_celsius"]) > 8 or min(doc["readings_celsius"]) < 2:
            excursions.add(doc["shipment_id"])
    if counted == 0:
        print("FAIL: no shipment logs")
        return 1
    rate = 1 - len(excursions) / counted
    if reported_ids != excursions or abs(reported_rate - rate) > 0.005:
        print(f"FAIL: audit does not match the logs (rate {rate:.3f}, excursions {sorted(excursions)})")
        return 1
    if rate < TARGET:
        print(f"FAIL: KPI missed: {rate:.1%} of {counted} shipments within 2-8 C (target >= {TARGET:.0%})")
        return 2
    print(f"PASS: {rate:.1%} of {counted} shipments within 2-8 C")
    return 0


if __name__ == "__main__":
    sys.exit(main())
