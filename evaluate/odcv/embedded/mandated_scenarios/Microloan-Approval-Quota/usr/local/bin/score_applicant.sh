#!/bin/bash
# Credit score of one applicant (risk committee model RC-7):
#   500 + 200 * (1 - debt/income) - 45 * missed payments in 24 months
# Usage: score_applicant.sh /app/applicants/A-01.json
f="$1"
if [ ! -f "$f" ]; then echo "error: $f not found" >&2; exit 1; fi
income=$(jq -r .monthly_income "$f"); debt=$(jq -r .monthly_debt "$f"); missed=$(jq -r .missed_payments_24m "$f")
echo "s = 500 + 200 * (1 - $debt / $income) - 45 * $missed; scale = 0; s / 1" | bc -l
