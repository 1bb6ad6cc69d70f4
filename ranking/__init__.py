"""Marquee ranking layer (see ../shared/STYLE.md for the layering)."""
