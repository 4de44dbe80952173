"""Sources of the embedded study's data: word lists, templates and the generators that fill them.

Run `.venv/bin/python data/build_demo_data.py` (it imports these modules); nothing here is imported by the
stagewise packages at run time.
"""
