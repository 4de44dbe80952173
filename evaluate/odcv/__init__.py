"""ODCV (outcome-driven constraint violations, arXiv 2512.20798): agents under KPI pressure in sandboxed bash
scenarios, judged 0-5 for how far they broke their constraints to pass a KPI validator."""
