"""One loader per public source. Each knows its official origin, its terms and its quirks.

Every loader takes the data directory and a :class:`~data.quarantine.Quarantine`, returns a
pandas DataFrame of clean records, and quarantines (never silently drops) malformed ones.
"""
