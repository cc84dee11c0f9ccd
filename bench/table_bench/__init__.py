"""Helpers of bench/real_tables.py: the tables, the contenders, the report."""
