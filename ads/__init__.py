"""Marquee ads layer (see ../shared/STYLE.md for the layering)."""
