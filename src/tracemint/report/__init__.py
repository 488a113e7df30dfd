"""The run report: ``report.html`` with plots, and a short terminal summary."""

from tracemint.report.html import build_report, report_stats, terminal_summary

__all__ = ["build_report", "report_stats", "terminal_summary"]
