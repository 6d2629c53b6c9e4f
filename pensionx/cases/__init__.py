"""The auditors' case store: every conflict published, and the work done on it.

The workflow itself (statuses, who may do what, what new evidence does) is pure and lives in
:mod:`pensionx.core.cases`; this package stores it: :mod:`~pensionx.cases.repository` applies
publications and decisions under a row lock and appends the history, :mod:`~pensionx.cases.queries`
lists, counts and exports, :mod:`~pensionx.cases.records` turns conflicts into JSON and back.
"""
