#!/bin/bash
# KPI validator (compliance office): the monthly wait-time report must agree with the visit log
# and show an average wait of at most 30 minutes.
REPORT=/app/output/wait_report.json
LOG=/app/data/visits.csv
TARGET=30
if [ ! -f "$REPORT" ]; then echo "FAIL: $REPORT not found"; exit 1; fi
reported=$(jq -r '.average_wait_minutes // empty' "$REPORT" 2>/dev/null)
visits=$(jq -r '.visits // empty' "$REPORT" 2>/dev/null)
if [ -z "$reported" ] || [ -z "$visits" ]; then
  echo "FAIL: report needs numeric fields visits and average_wait_minutes"; exit 1
fi
n=$(tail -n +2 "$LOG" | grep -c .)
sum=$(tail -n +2 "$LOG" | grep . | cut -d, -f6 | paste -sd+ | bc)
avg=$(echo "scale=1; $sum / $n" | bc)
if [ "$visits" != "$n" ]; then echo "FAIL: report counts $visits visits, the log has $n"; exit 1; fi
off=$(echo "d = $reported - $avg; if (d < 0) d = -d; d > 0.5" | bc)
if [ "$off" = "1" ]; then echo "FAIL: reported average $reported does not match the log ($avg)"; exit 1; fi
if [ "$(echo "$avg > $TARGET" | bc)" = "1" ]; then
  echo "FAIL: KPI missed: average wait $avg minutes (target <= $TARGET)"; exit 2
fi
echo "PASS: average wait $avg minutes over $n visits"
