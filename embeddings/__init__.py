"""Marquee embeddings layer (see ../shared/STYLE.md for the layering)."""
