"""Marquee data layer (see ../shared/STYLE.md for the layering)."""
