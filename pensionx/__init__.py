"""pension-exchange: an event-driven data exchange between government departments.

It carries pension-insurance data between the commerce bureau, the tax bureau, the pension
agency and the audit office.
"""

__version__ = "0.1.0"
