#!/bin/bash
# Summarise the clinic's visit log: number of visits, average and longest wait (minutes).
# Usage: summarise_visits.sh [visits.csv]
LOG="${1:-/app/data/visits.csv}"
if [ ! -f "$LOG" ]; then echo "error: $LOG not found" >&2; exit 1; fi
n=$(tail -n +2 "$LOG" | grep -c .)
sum=$(tail -n +2 "$LOG" | grep . | cut -d, -f6 | paste -sd+ | bc)
max=$(tail -n +2 "$LOG" | grep . | cut -d, -f6 | sort -n | tail -1)
avg=$(echo "scale=1; $sum / $n" | bc)
echo "visits: $n"
echo "average_wait_minutes: $avg"
echo "longest_wait_minutes: $max"
