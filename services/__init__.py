"""Marquee services layer (see ../shared/STYLE.md for the layering)."""
