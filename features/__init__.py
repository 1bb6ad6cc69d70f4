"""Marquee features layer (see ../shared/STYLE.md for the layering)."""
